package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
)

// bearer adds a principal's token to every request of a third-party client.
type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

// TestTilesWithTorchwoodClient: a standard transparency-log client (filippo.io/torchwood's, with
// golang.org/x/mod/sumdb/tlog's tile verification) reads the running server's log as C2SP
// tlog-tiles, checks every tile against the signed checkpoint and gets exactly the export's leaves.
func TestTilesWithTorchwoodClient(t *testing.T) {
	ts := startServer(t)
	ts.setupHierarchy()
	head := ts.head()
	ts.must(200, "GET", "/v1/audit/checkpoint?min_position="+head.String(), "aud", nil)
	signed := ts.must(200, "GET", "/v1/audit/tlog/checkpoint", "aud", nil).body
	key := strings.TrimSpace(string(ts.must(200, "GET", "/v1/audit/public-key", "", nil).body))
	cp, err := leaf.OpenCheckpoint(signed, key)
	if err != nil {
		t.Fatal(err)
	}
	export := ts.must(200, "GET", "/v1/audit/export"+q("to", itoa(cp.Size+1)), "aud", nil).body
	lines := bytes.Split(bytes.TrimSuffix(export, []byte("\n")), []byte("\n"))
	if uint64(len(lines)) != cp.Size {
		t.Fatalf("export of %d lines, checkpoint size %d", len(lines), cp.Size)
	}

	base := "http://" + ts.m.Addr() + "/v1/audit/tlog/"
	fetcher, err := torchwood.NewTileFetcher(base, torchwood.WithHTTPClient(&http.Client{Transport: bearer{ts.tokens["aud"]}}))
	if err != nil {
		t.Fatal(err)
	}
	client, err := torchwood.NewClient(fetcher)
	if err != nil {
		t.Fatal(err)
	}
	var root tlog.Hash
	copy(root[:], cp.Hash)
	n := 0
	for i, entry := range client.Entries(context.Background(), tlog.Tree{N: int64(cp.Size), Hash: root}, 0) {
		var p leaf.LineParser
		f, lh, err := p.Parse(lines[i])
		if err != nil {
			t.Fatal(err)
		}
		if rh := tlog.RecordHash(entry); rh != tlog.Hash(lh) || base64.StdEncoding.EncodeToString(rh[:]) != f.LeafHash {
			t.Fatalf("entry %d does not hash to the export's leaf %d", i, f.Index)
		}
		n++
	}
	if err := client.Err(); err != nil {
		t.Fatal(err)
	}
	if uint64(n) != cp.Size {
		t.Fatalf("the client read %d entries, the checkpoint has %d", n, cp.Size)
	}

	// Tiles are immutable; only global auditors and the platform read them; none beyond the tree.
	r := ts.must(200, "GET", "/v1/audit/tlog/tile/0/000.p/"+itoa(min(cp.Size, 255)), "plat", nil)
	if cc := r.header.Get("Cache-Control"); !strings.Contains(cc, "immutable") || len(r.body) != 32*int(min(cp.Size, 255)) {
		t.Fatalf("hash tile: Cache-Control %q, %d bytes", cc, len(r.body))
	}
	ts.must(403, "GET", "/v1/audit/tlog/tile/entries/000.p/1", "aud-a", nil)
	ts.must(403, "GET", "/v1/audit/tlog/checkpoint", "aud-a", nil)
	ts.must(404, "GET", "/v1/audit/tlog/tile/entries/x001/000", "aud", nil)
	ts.must(404, "GET", "/v1/audit/tlog/tile/0/bogus", "aud", nil)
}

package auditlog

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
)

// Witness is a witness the log sends its checkpoints to, per C2SP tlog-witness
// (https://c2sp.org/tlog-witness): serve --witness NAME=URL=VKEY.
type Witness struct {
	Name string                    // a label for logs and metrics
	URL  string                    // the witness's URL prefix: checkpoints go to POST <URL>/add-checkpoint
	Key  *leaf.CosignatureVerifier // the witness's cosignature key; its name is the one its cosignature lines carry
}

// ParseWitness parses NAME=URL=VKEY: a label, an http(s) URL (which may itself hold '='), and the
// witness's cosignature verifier key (leaf.NewCosignatureVerifier; a key never holds '=').
func ParseWitness(s string) (Witness, error) {
	name, rest, ok := strings.Cut(s, "=")
	i := strings.LastIndex(rest, "=")
	if !ok || name == "" || i < 0 {
		return Witness{}, fmt.Errorf("witness %q: want NAME=URL=VKEY", s)
	}
	u, vkey := rest[:i], rest[i+1:]
	pu, err := url.Parse(u)
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		return Witness{}, fmt.Errorf("witness %s: %q is not an http(s) URL", name, u)
	}
	key, err := leaf.NewCosignatureVerifier(vkey)
	if err != nil {
		return Witness{}, fmt.Errorf("witness %s: %w", name, err)
	}
	return Witness{Name: name, URL: strings.TrimSuffix(u, "/"), Key: key}, nil
}

// addOutcome is what one add-checkpoint request came to.
type addOutcome struct {
	cosig    leaf.Cosignature // 200: the witness's valid cosignature
	conflict bool             // 409: the witness has another size of the log, known
	known    uint64
	refused  string // 422 (a bad consistency proof), 403 or 404 (an unknown log or key): why
	status   int    // the HTTP status, 0 if there was no answer
	err      error  // no usable answer (transport, another status, a malformed or invalid reply)
}

// maxWitnessReply bounds what is read of a witness's answer.
const maxWitnessReply = 64 << 10

// addCheckpoint sends one C2SP tlog-witness add-checkpoint request: "old <size>", the consistency
// proof from that size to the checkpoint's (one base64 hash a line), a blank line and the signed
// checkpoint note. A 200 answer must hold a valid cosignature of w.Key over the checkpoint's body.
func addCheckpoint(ctx context.Context, c *http.Client, w Witness, old uint64, proof [][]byte, signed []byte) addOutcome {
	var body bytes.Buffer
	fmt.Fprintf(&body, "old %d\n", old)
	for _, h := range proof {
		body.WriteString(base64.StdEncoding.EncodeToString(h))
		body.WriteByte('\n')
	}
	body.WriteByte('\n')
	body.Write(signed)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL+"/add-checkpoint", &body)
	if err != nil {
		return addOutcome{err: err}
	}
	resp, err := c.Do(req)
	if err != nil {
		return addOutcome{err: err}
	}
	defer resp.Body.Close()
	reply, err := io.ReadAll(io.LimitReader(resp.Body, maxWitnessReply))
	if err != nil {
		return addOutcome{status: resp.StatusCode, err: fmt.Errorf("reading the answer: %w", err)}
	}
	text := strings.TrimSpace(string(reply))
	switch resp.StatusCode {
	case http.StatusOK:
		var lines []string
		for _, l := range strings.Split(string(reply), "\n") {
			if strings.HasPrefix(l, "— ") {
				lines = append(lines, l)
			}
		}
		cosig, err := leaf.FindCosignature(leaf.AddSignatureLines(signed, lines), w.Key)
		if err != nil {
			return addOutcome{status: resp.StatusCode, err: fmt.Errorf("the witness answered 200 without a valid cosignature: %w", err)}
		}
		return addOutcome{status: resp.StatusCode, cosig: cosig}
	case http.StatusConflict:
		known, err := strconv.ParseUint(text, 10, 64)
		if err != nil {
			return addOutcome{status: resp.StatusCode, err: fmt.Errorf("409 Conflict without a tree size (%q)", clip(text))}
		}
		return addOutcome{status: resp.StatusCode, conflict: true, known: known}
	case http.StatusUnprocessableEntity:
		return addOutcome{status: resp.StatusCode, refused: "the witness refused the consistency proof from size " + strconv.FormatUint(old, 10) +
			" (422: the checkpoint does not extend what it cosigned before: a fork or a rewritten log): " + clip(text)}
	case http.StatusForbidden, http.StatusNotFound:
		return addOutcome{status: resp.StatusCode, refused: fmt.Sprintf("the witness does not accept this log or its key (%d): %s", resp.StatusCode, clip(text))}
	default:
		return addOutcome{status: resp.StatusCode, err: fmt.Errorf("status %d: %s", resp.StatusCode, clip(text))}
	}
}

// clip shortens a witness's answer for a log line.
func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

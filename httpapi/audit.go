package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/projections"
	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
)

type eventsResponse struct {
	Events    []leaf.Event `json:"events"`
	NextAfter *string      `json:"next_after"` // the position to pass as after for the next page; null at the end
}

type proofResponse struct {
	Index    *uint64  `json:"index,omitempty"`
	TreeSize *uint64  `json:"tree_size,omitempty"`
	First    *uint64  `json:"first,omitempty"`
	Second   *uint64  `json:"second,omitempty"`
	Hashes   []string `json:"hashes"`
}

func (s *Server) needAudit() error {
	if s.audit == nil {
		return errorf(domain.CodeUnavailable, "the audit log is not available on this server")
	}
	return nil
}

// subtreeFilter returns a filter keeping the events about p's subtree, or nil when p sees everything.
// An event is about the customer or partner its data names (customer_id, partner_id, or the ID of a
// reservation); the owner is looked up in the current read models, with a cache per request.
func (s *Server) subtreeFilter(ctx context.Context, p Principal) func(leaf.Event) bool {
	if p.scope() == "" {
		return nil
	}
	seen := map[string]bool{}
	return func(ev leaf.Event) bool {
		var d struct {
			CustomerID string `json:"customer_id"`
			PartnerID  string `json:"partner_id"`
			Kind       string `json:"kind"`
			ID         string `json:"id"`
		}
		if json.Unmarshal(ev.Data, &d) != nil {
			return false
		}
		kind, id := "", ""
		switch {
		case d.CustomerID != "":
			kind, id = "customer", d.CustomerID
		case d.Kind == "customer" || d.Kind == "partner":
			kind, id = d.Kind, d.ID
		case d.PartnerID != "":
			kind, id = "partner", d.PartnerID
		default:
			return false
		}
		key := kind + "/" + id
		if v, ok := seen[key]; ok {
			return v
		}
		var ok bool
		if kind == "customer" {
			_, err := s.visibleCustomer(ctx, p, id, projections.AsOf{})
			ok = err == nil
		} else {
			_, err := s.visiblePartner(ctx, p, id)
			ok = err == nil
		}
		if len(seen) < 100000 {
			seen[key] = ok
		}
		return ok
	}
}

// GET /v1/audit/events
func (s *Server) auditEvents(w http.ResponseWriter, r *http.Request, p Principal) error {
	q, err := parseQuery(r, "after", "limit", "min_position", "actor", "actor_partner_id", "customer_id", "partner_id", "type", "from", "to")
	if err != nil {
		return err
	}
	fq, filtered, err := parseAuditFilter(q)
	if err != nil {
		return err
	}
	after := eventstore.Start
	if v := q["after"]; v != "" {
		if after, err = parsePosition("after", v); err != nil {
			return err
		}
	}
	ndjson := strings.Contains(r.Header.Get("Accept"), "application/x-ndjson")
	limit := 0
	if _, given := q["limit"]; given || !ndjson {
		if limit, err = parseLimit(q["limit"]); err != nil {
			return err
		}
	}
	if err := s.needAudit(); err != nil {
		return err
	}
	if err := s.waitMin(r.Context(), q); err != nil {
		return err
	}
	keep := s.subtreeFilter(r.Context(), p)
	if filtered {
		fq.After = &after
		return s.filteredAuditEvents(w, r, fq, limit, ndjson, keep)
	}
	if ndjson {
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.Header().Set("Cache-Control", "no-store")
		if r.Method == http.MethodHead {
			w.Header().Set("Connection", "close")
			return nil // the stream's headers, without reading the log
		}
		dw, release, err := s.startStream(w, p)
		if err != nil {
			return err
		}
		defer release()
		bw := bufio.NewWriterSize(dw, 32<<10)
		enc := json.NewEncoder(bw)
		err = s.audit.Events(r.Context(), after, limit, func(ev leaf.Event) error {
			if keep != nil && !keep(ev) {
				return nil
			}
			return enc.Encode(ev)
		})
		if err != nil {
			return err
		}
		return bw.Flush()
	}
	out := eventsResponse{Events: []leaf.Event{}}
	var last string
	n := 0
	err = s.audit.Events(r.Context(), after, limit, func(ev leaf.Event) error {
		n++
		last = ev.Position
		if keep == nil || keep(ev) {
			out.Events = append(out.Events, ev)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if n == limit && last != "" {
		out.NextAfter = &last
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// parseAuditFilter reads the filters of GET /v1/audit/events; filtered is false when none is given
// (the plain log, served by the audit tree).
func parseAuditFilter(q map[string]string) (projections.AuditQuery, bool, error) {
	var f projections.AuditQuery
	filtered := false
	if v := q["actor"]; v != "" {
		if utf8.RuneCountInString(v) > 256 || !printable(v) {
			return f, false, errorf(domain.CodeInvalid, "actor must be a principal name (at most 256 printable characters)")
		}
		f.Actor, filtered = v, true
	}
	for _, id := range []struct {
		name string
		dst  *string
	}{{"actor_partner_id", &f.ActorPartnerID}, {"customer_id", &f.CustomerID}, {"partner_id", &f.PartnerID}} {
		if v := q[id.name]; v != "" {
			if !domain.ValidID(v) {
				return f, false, errorf(domain.CodeInvalid, "%s is not a valid ID", id.name)
			}
			*id.dst, filtered = v, true
		}
	}
	if v := q["type"]; v != "" {
		for _, t := range strings.Split(v, ",") {
			known := false
			for _, k := range projections.EventTypes {
				known = known || k == t
			}
			if !known {
				return f, false, errorf(domain.CodeInvalid, "type %q is not an event type; the types are %s", clip(t), strings.Join(projections.EventTypes, ", "))
			}
			f.Types = append(f.Types, t)
		}
		filtered = true
	}
	for _, b := range []struct {
		name string
		dst  *projections.AsOf
	}{{"from", &f.From}, {"to", &f.To}} {
		v := q[b.name]
		if v == "" {
			continue
		}
		if pos, err := eventstore.ParsePosition(v); err == nil {
			b.dst.Position = &pos
		} else if t, err := parseTime(b.name, v); err == nil {
			b.dst.Time = &t
		} else {
			return f, false, errorf(domain.CodeInvalid, "%s must be an RFC 3339 time or a log position", b.name)
		}
		filtered = true
	}
	return f, filtered, nil
}

// filteredAuditEvents answers GET /v1/audit/events with filters from the read models' indexes, in
// pages of at most limit events (all of them for a stream without limit); keep (a scoped
// auditor's subtree) applies on top.
func (s *Server) filteredAuditEvents(w http.ResponseWriter, r *http.Request, q projections.AuditQuery, limit int, ndjson bool, keep func(leaf.Event) bool) error {
	if !ndjson {
		q.Limit = limit
		page, err := s.reads.AuditEvents(r.Context(), q)
		if err != nil {
			return err
		}
		out := eventsResponse{Events: []leaf.Event{}, NextAfter: optString(page.NextAfter)}
		for _, ev := range page.Events {
			if keep == nil || keep(ev) {
				out.Events = append(out.Events, ev)
			}
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	bw := bufio.NewWriterSize(w, 32<<10)
	enc := json.NewEncoder(bw)
	left := limit // 0: no limit
	for {
		q.Limit = projections.MaxLimit
		if limit > 0 {
			q.Limit = min(left, projections.MaxLimit)
		}
		page, err := s.reads.AuditEvents(r.Context(), q)
		if err != nil {
			return err
		}
		for _, ev := range page.Events {
			if keep == nil || keep(ev) {
				if err := enc.Encode(ev); err != nil {
					return err
				}
			}
		}
		left -= len(page.Events)
		if page.NextAfter == "" || (limit > 0 && left <= 0) {
			return bw.Flush()
		}
		after, err := eventstore.ParsePosition(page.NextAfter)
		if err != nil {
			return err
		}
		q.After = &after
	}
}

// GET /v1/audit/export
func (s *Server) auditExport(w http.ResponseWriter, r *http.Request, p Principal) error {
	q, err := parseQuery(r, "format", "from", "to", "min_position")
	if err != nil {
		return err
	}
	format := q["format"]
	if format == "" {
		format = "jsonl"
	}
	ctype := map[string]string{"jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}[format]
	if ctype == "" {
		return errorf(domain.CodeInvalid, "format must be jsonl or csv")
	}
	bounds := map[string]string{}
	for _, k := range []string{"from", "to"} {
		if v := q[k]; v != "" {
			bounds[k] = v
			if _, perr := eventstore.ParsePosition(v); perr != nil {
				t, terr := parseTime(k, v)
				if terr != nil {
					return errorf(domain.CodeInvalid, "%s must be an RFC 3339 time or a log position", k)
				}
				bounds[k] = t.Format(time.RFC3339Nano)
			}
		}
	}
	if err := s.needAudit(); err != nil {
		return err
	}
	if err := s.waitMin(r.Context(), q); err != nil {
		return err
	}
	header := func() {
		h := w.Header()
		h.Set("Content-Type", ctype)
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Disposition", `attachment; filename="freezeledger-export.`+format+`"`)
		h.Set("Connection", "close")
	}
	if r.Method == http.MethodHead {
		header() // the export's headers, without reading the log
		return nil
	}
	dw, release, err := s.startStream(w, p)
	if err != nil {
		return err
	}
	defer release()
	lw := &lazyHeaderWriter{w: dw, header: header}
	bw := bufio.NewWriterSize(lw, 32<<10)
	var out io.Writer = bw
	var lf *lineFilter
	if keep := s.subtreeFilter(r.Context(), p); keep != nil {
		lf = &lineFilter{next: bw, csv: format == "csv", keep: keep}
		out = lf
	}
	if err := s.audit.Export(r.Context(), out, format, bounds["from"], bounds["to"]); err != nil {
		return err
	}
	if lf != nil {
		if err := lf.Close(); err != nil {
			return err
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if !lw.started {
		lw.header()
		w.WriteHeader(http.StatusOK)
	}
	return nil
}

// lineFilter keeps the lines of an export whose event keep accepts: the export of an auditor scoped
// to a partner. Both formats have one event per line (JSON and CSV cells hold no raw newline: data
// and metadata are compact JSON); a CSV export's header line is kept.
type lineFilter struct {
	next   io.Writer
	csv    bool
	keep   func(leaf.Event) bool
	buf    []byte
	header bool
}

func (f *lineFilter) Write(b []byte) (int, error) {
	f.buf = append(f.buf, b...)
	for {
		i := bytes.IndexByte(f.buf, '\n')
		if i < 0 {
			break
		}
		if err := f.line(f.buf[:i+1]); err != nil {
			return 0, err
		}
		f.buf = f.buf[i+1:]
	}
	return len(b), nil
}

func (f *lineFilter) line(l []byte) error {
	var ev leaf.Event
	if f.csv {
		if !f.header {
			f.header = true
			_, err := f.next.Write(l)
			return err
		}
		rec, err := csv.NewReader(bytes.NewReader(l)).Read()
		if err != nil || len(rec) < 11 {
			return fmt.Errorf("export filter: unreadable CSV line: %v", err)
		}
		ev.Data = json.RawMessage(rec[10])
	} else if err := json.Unmarshal(l, &ev); err != nil {
		return fmt.Errorf("export filter: unreadable JSON line: %w", err)
	}
	if !f.keep(ev) {
		return nil
	}
	_, err := f.next.Write(l)
	return err
}

// Close passes on a last line without a newline.
func (f *lineFilter) Close() error {
	if len(f.buf) == 0 {
		return nil
	}
	err := f.line(f.buf)
	f.buf = nil
	return err
}

// lazyHeaderWriter sets the success headers just before the first byte, so an error found before any
// output can still be a problem response.
type lazyHeaderWriter struct {
	w       io.Writer
	header  func()
	started bool
}

func (l *lazyHeaderWriter) Write(b []byte) (int, error) {
	if !l.started {
		l.started = true
		l.header()
	}
	return l.w.Write(b)
}

// GET /v1/audit/checkpoint
//
// With min_position, it waits (up to the wait timeout) for a checkpoint that covers that position.
// With witnesses (serve --witness) the note carries their cosignatures after the log's signature
// line: clients that know only the log's key verify it as before (Audit.Checkpoint says which).
func (s *Server) auditCheckpoint(w http.ResponseWriter, r *http.Request, p Principal) error {
	q, err := parseQuery(r, "min_position")
	if err != nil {
		return err
	}
	if err := s.needAudit(); err != nil {
		return err
	}
	var cp []byte
	if _, ok := q["min_position"]; ok {
		if err := s.waitMin(r.Context(), q); err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(r.Context(), s.wait)
		defer cancel()
		cp, err = s.audit.WaitCheckpoint(wctx, s.reads.Events())
		if err != nil && r.Context().Err() == nil {
			return errorf(domain.CodeUnavailable, "no signed checkpoint covers position %s yet; retry later", q["min_position"])
		}
	} else {
		cp, err = s.audit.Checkpoint(r.Context())
	}
	if err != nil {
		return err
	}
	writeCheckpoint(w, cp)
	return nil
}

// writeCheckpoint answers a signed checkpoint note, as text that no cache keeps (a newer one comes).
func writeCheckpoint(w http.ResponseWriter, cp []byte) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(cp)
}

// proofQuery reads a proof route's query: the parameters a and b, both required non-negative
// integers, and no other.
func proofQuery(r *http.Request, a, b string) (uint64, uint64, error) {
	q, err := parseQuery(r, a, b)
	if err != nil {
		return 0, 0, err
	}
	x, _, err := parseUint(a, q[a], true)
	if err != nil {
		return 0, 0, err
	}
	y, _, err := parseUint(b, q[b], true)
	return x, y, err
}

// GET /v1/audit/proof/inclusion
func (s *Server) auditInclusion(w http.ResponseWriter, r *http.Request, p Principal) error {
	index, size, err := proofQuery(r, "index", "tree_size")
	if err != nil {
		return err
	}
	if index >= size {
		return errorf(domain.CodeInvalid, "index %d must be less than tree_size %d", index, size)
	}
	if err := s.needAudit(); err != nil {
		return err
	}
	hs, err := s.audit.InclusionProof(index, size)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, proofResponse{Index: &index, TreeSize: &size, Hashes: b64(hs)})
	return nil
}

// GET /v1/audit/proof/consistency
func (s *Server) auditConsistency(w http.ResponseWriter, r *http.Request, p Principal) error {
	first, second, err := proofQuery(r, "first", "second")
	if err != nil {
		return err
	}
	if first > second {
		return errorf(domain.CodeInvalid, "first %d must not be greater than second %d", first, second)
	}
	if err := s.needAudit(); err != nil {
		return err
	}
	hs, err := s.audit.ConsistencyProof(first, second)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, proofResponse{First: &first, Second: &second, Hashes: b64(hs)})
	return nil
}

func b64(hs [][]byte) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = base64.StdEncoding.EncodeToString(h)
	}
	return out
}

// GET /v1/audit/public-key
func (s *Server) auditPublicKey(w http.ResponseWriter, r *http.Request, _ Principal) error {
	if err := s.needAudit(); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte(s.audit.PublicKey() + "\n"))
	return nil
}

// GET /healthz: the process is alive.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request, _ Principal) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// GET /readyz: the store is open and the read models have caught up with it.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request, _ Principal) error {
	if s.storeReady != nil {
		if err := s.storeReady(r.Context()); err != nil {
			return errorf(domain.CodeUnavailable, "store not ready: %v", err)
		}
	}
	if err := s.reads.Ready(r.Context()); err != nil {
		return errorf(domain.CodeUnavailable, "read models not ready: %v", err)
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}

// GET /openapi.json
func (s *Server) openAPI(w http.ResponseWriter, r *http.Request, _ Principal) error {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(OpenAPIDocument)
	return nil
}

package esdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/freezeledger/freezeledger/eventstore"
)

func TestToExpected(t *testing.T) {
	cases := []struct {
		in   eventstore.ExpectedRevision
		want esdb.ExpectedRevision
	}{
		{eventstore.Any, esdb.Any{}},
		{eventstore.NoStream, esdb.NoStream{}},
		{eventstore.StreamExists, esdb.StreamExists{}},
		{eventstore.Exact(0), esdb.Revision(0)},
		{eventstore.Exact(41), esdb.Revision(41)},
		{eventstore.Exact(math.MaxUint64 - 1), esdb.Revision(math.MaxUint64 - 1)},
	}
	for _, c := range cases {
		if got := toExpected(c.in); got != c.want {
			t.Errorf("toExpected(%s) = %#v, want %#v", c.in, got, c.want)
		}
	}
}

func TestToEventData(t *testing.T) {
	in := []eventstore.EventData{
		{ID: uuid.New(), Type: "customer.frozen", Data: []byte(`{"a":1}`), Metadata: []byte(`{"m":1}`)},
		{ID: uuid.New(), Type: "customer.unfrozen", Data: []byte(`{}`)},
	}
	out := toEventData(in)
	if len(out) != len(in) {
		t.Fatalf("%d events mapped to %d", len(in), len(out))
	}
	for i := range in {
		want := esdb.EventData{EventID: in[i].ID, EventType: in[i].Type, ContentType: esdb.ContentTypeJson, Data: in[i].Data, Metadata: in[i].Metadata}
		if !reflect.DeepEqual(out[i], want) {
			t.Errorf("event %d = %+v, want %+v", i, out[i], want)
		}
		if out[i].EventID == uuid.Nil {
			t.Errorf("event %d has no ID: the client would make up a random one and retries would write twice", i)
		}
	}
}

func TestFromRecorded(t *testing.T) {
	id := uuid.New()
	created := time.Date(2026, 11, 1, 8, 0, 0, 123456700, time.FixedZone("CET", 3600))
	in := &esdb.RecordedEvent{
		EventID: id, EventType: "customer.frozen", ContentType: "application/json", StreamID: "customer-c1",
		EventNumber: 7, Position: esdb.Position{Commit: 1042, Prepare: 1040}, CreatedDate: created,
		Data: []byte(`{"reason":"x"}`), SystemMetadata: map[string]string{"type": "customer.frozen"}, UserMetadata: []byte(`{"actor":"a"}`),
	}
	got := fromRecorded(in)
	want := eventstore.RecordedEvent{
		ID: id, Type: "customer.frozen", Stream: "customer-c1", Revision: 7,
		Position: eventstore.Position{Commit: 1042, Prepare: 1040}, Created: created.UTC(),
		Data: []byte(`{"reason":"x"}`), Metadata: []byte(`{"actor":"a"}`),
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("fromRecorded = %+v, want %+v", got, want)
	}
	if got.Created.Location() != time.UTC {
		t.Errorf("Created is in %s, want UTC", got.Created.Location())
	}
	in.UserMetadata, in.Data = []byte{}, []byte{}
	if got := fromRecorded(in); got.Metadata != nil || got.Data != nil {
		t.Errorf("empty data and metadata map to %q, %q, want nil", got.Data, got.Metadata)
	}
}

func TestPositions(t *testing.T) {
	p := fromPosition(esdb.Position{Commit: 10, Prepare: 9})
	if p != (eventstore.Position{Commit: 10, Prepare: 9}) {
		t.Fatalf("fromPosition = %+v", p)
	}
	if got := toAllPosition(eventstore.Start); got != (esdb.Start{}) {
		t.Errorf("toAllPosition(Start) = %#v, want esdb.Start{}", got)
	}
	if got := toAllPosition(p); got != (esdb.Position{Commit: 10, Prepare: 9}) {
		t.Errorf("toAllPosition(%s) = %#v: positions must pass unchanged, never incremented", p, got)
	}
	// Pairs compare commit first, then prepare.
	cases := []struct {
		p, q eventstore.Position
		want bool // p strictly after q
	}{
		{eventstore.Position{Commit: 5, Prepare: 5}, eventstore.Start, true},
		{eventstore.Start, eventstore.Start, true}, // Start means "before everything"
		{eventstore.Position{Commit: 5, Prepare: 5}, eventstore.Position{Commit: 5, Prepare: 5}, false},
		{eventstore.Position{Commit: 5, Prepare: 4}, eventstore.Position{Commit: 5, Prepare: 5}, false},
		{eventstore.Position{Commit: 5, Prepare: 6}, eventstore.Position{Commit: 5, Prepare: 5}, true},
		{eventstore.Position{Commit: 6, Prepare: 1}, eventstore.Position{Commit: 5, Prepare: 9}, true},
		{eventstore.Position{Commit: 4, Prepare: 9}, eventstore.Position{Commit: 5, Prepare: 1}, false},
	}
	for _, c := range cases {
		if got := after(c.p, c.q); got != c.want {
			t.Errorf("after(%s, %s) = %v, want %v", c.p, c.q, got, c.want)
		}
	}
	if knownPosition(esdb.Position{Commit: math.MaxUint64, Prepare: math.MaxUint64}) || !knownPosition(esdb.Position{Commit: 1, Prepare: 1}) {
		t.Error("knownPosition: the server's 'no position' is (2^64-1, 2^64-1)")
	}
}

func TestSystemEventsFiltered(t *testing.T) {
	cases := []struct {
		stream, typ string
		system      bool
	}{
		{"customer-c1", "customer.frozen", false},
		{"partner-p1", "partner.registered", false},
		{"$stats-127.0.0.1:2113", "$statsCollected", true},
		{"$$customer-c1", "$metadata", true},
		{"$ce-customer", "$>", true},
		{"$projections-$all", "$ProjectionsInitialized", true},
		{"$scavenges", "ScavengeStarted", true}, // a system stream with an ordinary type
		{"customer-c1", "$>", true},
	}
	re := regexp.MustCompile(systemFilter().Regex)
	if systemFilter().Type != esdb.EventFilterType {
		t.Fatalf("server-side filter is on %v, want event types", systemFilter().Type)
	}
	for _, c := range cases {
		ev := &esdb.RecordedEvent{StreamID: c.stream, EventType: c.typ}
		if got := isSystem(ev); got != c.system {
			t.Errorf("isSystem(%q, %q) = %v, want %v", c.stream, c.typ, got, c.system)
		}
		// The server-side filter lets through what it must: every ordinary event type.
		if !strings.HasPrefix(c.typ, "$") && !re.MatchString(c.typ) {
			t.Errorf("server-side filter drops event type %q", c.typ)
		}
		if strings.HasPrefix(c.typ, "$") && re.FindString(c.typ) == c.typ {
			t.Errorf("server-side filter lets system event type %q through", c.typ)
		}
	}
}

// clientError builds the client's *esdb.Error with a given code. The client exports no
// constructor (its fields are unexported; esdb.FromError only makes ErrorCodeUnknown), so this
// mirrors its layout, after checking the layout field by field: a new client version that changes
// it fails here rather than corrupting memory.
func clientError(t *testing.T, code esdb.ErrorCode, inner error) *esdb.Error {
	t.Helper()
	type mirror struct {
		code esdb.ErrorCode
		err  error
	}
	rt, mt := reflect.TypeOf(esdb.Error{}), reflect.TypeOf(mirror{})
	if rt.NumField() != mt.NumField() || rt.Size() != mt.Size() {
		t.Fatalf("esdb.Error's layout changed: %d fields, %d bytes", rt.NumField(), rt.Size())
	}
	for i := 0; i < rt.NumField(); i++ {
		if rt.Field(i).Name != mt.Field(i).Name || rt.Field(i).Type != mt.Field(i).Type || rt.Field(i).Offset != mt.Field(i).Offset {
			t.Fatalf("esdb.Error's field %d is %s %s, want %s %s", i, rt.Field(i).Name, rt.Field(i).Type, mt.Field(i).Name, mt.Field(i).Type)
		}
	}
	e := (*esdb.Error)(unsafe.Pointer(&mirror{code: code, err: inner}))
	if e.Code() != code || e.Err() != inner {
		t.Fatalf("constructed esdb.Error has code %d and error %v", e.Code(), e.Err())
	}
	return e
}

// unknownError is what esdb.FromError makes of an error that is not the client's: code Unknown.
// (Its boolean is true only for a nil error, so it is no test of "is a client error".)
func unknownError(err error) error {
	e, noError := esdb.FromError(err)
	if noError {
		return nil
	}
	return e
}

// wrongVersion is the error the client returns for a wrong expected version (client.go).
func wrongVersion(t *testing.T, expected, current string) error {
	return clientError(t, esdb.ErrorCodeWrongExpectedVersion, fmt.Errorf("wrong expected version: expecting '%s' but got '%s'", expected, current))
}

func TestClassify(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want errKind
	}{
		{"wrong expected version", wrongVersion(t, "0", "no_stream"), kindWrongExpected},
		{"wrapped wrong expected version", fmt.Errorf("append: %w", wrongVersion(t, "any", "3")), kindWrongExpected},
		{"not found", clientError(t, esdb.ErrorCodeResourceNotFound, errors.New("stream 'x' is not found")), kindNotFound},
		{"stream deleted", clientError(t, esdb.ErrorCodeStreamDeleted, nil), kindStreamDeleted},
		{"unauthenticated", clientError(t, esdb.ErrorCodeUnauthenticated, nil), kindDenied},
		{"access denied", clientError(t, esdb.ErrorCodeAccessDenied, nil), kindDenied},
		{"not leader", clientError(t, esdb.ErrorCodeNotLeader, nil), kindTransient},
		{"deadline", clientError(t, esdb.ErrorCodeDeadlineExceeded, nil), kindTransient},
		{"aborted", clientError(t, esdb.ErrorAborted, nil), kindTransient},
		{"unavailable", clientError(t, esdb.ErrorUnavailable, nil), kindConnection},
		{"client closed (discovery failed)", fmt.Errorf("x: %w", clientError(t, esdb.ErrorCodeConnectionClosed, nil)), kindConnection},
		{"parsing", clientError(t, esdb.ErrorCodeParsing, nil), kindOther},
		{"internal", clientError(t, esdb.ErrorCodeInternalServer, nil), kindOther},
		{"unknown wrapping a gRPC unavailable", unknownError(status.Error(codes.Unavailable, "down")), kindConnection},
		{"bare gRPC unavailable", status.Error(codes.Unavailable, "down"), kindConnection},
		{"bare gRPC deadline", fmt.Errorf("read: %w", status.Error(codes.DeadlineExceeded, "slow")), kindTransient},
		{"bare gRPC permission denied", status.Error(codes.PermissionDenied, "no"), kindDenied},
		{"bare gRPC invalid argument", status.Error(codes.InvalidArgument, "no"), kindOther},
		{"plain error", io.ErrUnexpectedEOF, kindOther},
		{"unknown code, plain error", unknownError(errors.New("boom")), kindOther},
	}
	for _, c := range cases {
		if got := classify(c.err); got != c.want {
			t.Errorf("%s: classify(%v) = %s, want %s", c.name, c.err, got, c.want)
		}
	}
}

func TestActualRevisionFromWrongVersion(t *testing.T) {
	cases := []struct {
		err    error
		actual int64
		ok     bool
	}{
		{wrongVersion(t, "no_stream", "4"), 4, true},
		{wrongVersion(t, "0", "no_stream"), -1, true},
		{wrongVersion(t, "stream_exists", "no_stream"), -1, true},
		{wrongVersion(t, "any", "0"), 0, true},
		{fmt.Errorf("wrapped: %w", wrongVersion(t, "5", "12345678901")), 12345678901, true},
		{wrongVersion(t, "5", "-2"), 0, false},
		{clientError(t, esdb.ErrorCodeWrongExpectedVersion, nil), 0, false},
	}
	for _, c := range cases {
		actual, ok := actualRevision(c.err)
		if actual != c.actual || ok != c.ok {
			t.Errorf("actualRevision(%v) = %d, %v, want %d, %v", c.err, actual, ok, c.actual, c.ok)
		}
	}
}

func TestAppendErrorMapping(t *testing.T) {
	s := quickFail(t, Options{MaxRetries: -1})
	ctx := context.Background()
	err := s.appendError(ctx, "customer-c1", eventstore.Exact(2), wrongVersion(t, "2", "5"))
	var werr *eventstore.WrongExpectedRevisionError
	if !errors.As(err, &werr) || !errors.Is(err, eventstore.ErrWrongExpectedRevision) {
		t.Fatalf("wrong expected version maps to %v, want *WrongExpectedRevisionError", err)
	}
	if werr.Stream != "customer-c1" || werr.Expected != eventstore.Exact(2) || werr.Actual != 5 {
		t.Fatalf("mapped error = %+v", werr)
	}
	err = s.appendError(ctx, "customer-c1", eventstore.StreamExists, wrongVersion(t, "stream_exists", "no_stream"))
	if !errors.As(err, &werr) || werr.Actual != -1 {
		t.Fatalf("no stream maps to %v, want actual -1", err)
	}
	if s.clientsBuilt() != 0 {
		t.Fatal("the actual revision was in the error, yet the store went to the server")
	}
	// Without the revision in the message the store reads the stream: here that fails, and the
	// error still says what happened.
	err = s.appendError(ctx, "customer-c1", eventstore.Exact(2), clientError(t, esdb.ErrorCodeWrongExpectedVersion, nil))
	if !errors.Is(err, eventstore.ErrWrongExpectedRevision) || !errors.Is(err, eventstore.ErrUnavailable) || s.clientsBuilt() != 1 {
		t.Fatalf("wrong version without the revision, server down: %v (clients built %d)", err, s.clientsBuilt())
	}
	err = s.appendError(ctx, "customer-c1", eventstore.Any, clientError(t, esdb.ErrorCodeStreamDeleted, nil))
	if errors.Is(err, eventstore.ErrWrongExpectedRevision) || !strings.Contains(err.Error(), "deleted") {
		t.Fatalf("stream deleted maps to %v", err)
	}
	err = s.appendError(ctx, "customer-c1", eventstore.Any, clientError(t, esdb.ErrorCodeAccessDenied, nil))
	if !strings.Contains(err.Error(), `"customer-c1"`) {
		t.Fatalf("other errors name the stream: %v", err)
	}
}

func TestRedactAndTarget(t *testing.T) {
	for in, want := range map[string]string{
		"esdb://admin:changeit@127.0.0.1:2113?tls=false":  "esdb://admin:REDACTED@127.0.0.1:2113?tls=false",
		"esdb+discover://ops:p%40ss@cluster.local:2113":   "esdb+discover://ops:REDACTED@cluster.local:2113",
		"esdb://admin:x@h1:2113,h2:2113,h3:2113?tls=true": "esdb://admin:REDACTED@h1:2113,h2:2113,h3:2113?tls=true",
		"esdb://127.0.0.1:2113?tls=false":                 "esdb://127.0.0.1:2113?tls=false",
		"esdb://user@127.0.0.1:2113?tls=false":            "esdb://user@127.0.0.1:2113?tls=false",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
	for cs, want := range map[string]string{
		"esdb://127.0.0.1:2113?tls=false": "127.0.0.1:2113",
		"esdb://node1":                    "node1:2113",
		"esdb://h1:1,h2:2,h3:3":           "h1:1,h2:2,h3:3",
	} {
		cfg, err := parseConnectionString(cs)
		if err != nil {
			t.Fatalf("parse %q: %v", cs, err)
		}
		if got := target(cfg); got != want {
			t.Errorf("target(%q) = %q, want %q", cs, got, want)
		}
	}
	for cs, want := range map[string]bool{
		"esdb://x": true, "esdb+discover://x": true, "kurrentdb://x": true, "kurrentdb+discover://x": true,
		"kdb://x": true, "kdb+discover://x": true, "./data": false, "embedded": false, "http://x": false,
	} {
		if IsConnectionString(cs) != want {
			t.Errorf("IsConnectionString(%q) = %v", cs, !want)
		}
	}
	cfg, err := parseConnectionString("kurrentdb+discover://admin:changeit@cluster.local:2113?tls=true")
	if err != nil || !cfg.DnsDiscover || cfg.Address != "cluster.local:2113" || cfg.Username != "admin" {
		t.Errorf("kurrentdb+discover:// parses to %+v, %v", cfg, err)
	}
}

func TestClientLoggerLevels(t *testing.T) {
	logger, buf := bufferLogger(hclog.Trace)
	log := clientLogger(logger)
	log(esdb.LogDebug, "debug %d", 1)
	log(esdb.LogInfo, "discovery attempt %v/%v", 1, 10)
	log(esdb.LogWarn, "warn %s", "w")
	log(esdb.LogError, "unexpected exception: %v", errors.New("boom"))
	log(esdb.LogError, "subscription has dropped. Reason: %v", context.Canceled)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{"[TRACE] debug 1", "[DEBUG] discovery attempt 1/10", "[WARN]  warn w", "[ERROR] unexpected exception: boom", "[DEBUG] subscription has dropped. Reason: context canceled"}
	if len(lines) != len(want) {
		t.Fatalf("logged %d lines, want %d:\n%s", len(lines), len(want), buf.String())
	}
	for i := range want {
		if !strings.Contains(lines[i], want[i]) {
			t.Errorf("line %d = %q, want it to contain %q", i, lines[i], want[i])
		}
	}
}

func TestBackoff(t *testing.T) {
	s := &Store{opts: Options{MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}.withDefaults()}
	for attempt, ceiling := range []time.Duration{100, 200, 400, 800, 1000, 1000, 1000} {
		ceiling *= time.Millisecond
		for range 20 {
			if d := s.backoff(attempt); d < ceiling/2 || d > ceiling {
				t.Fatalf("backoff(%d) = %s, want within [%s, %s]", attempt, d, ceiling/2, ceiling)
			}
		}
	}
}

func TestOptionsDefaults(t *testing.T) {
	o := Options{}.withDefaults()
	if o.Logger == nil || o.ConnectTimeout != 5*time.Second || o.OperationTimeout != 10*time.Second || o.MaxRetries != 4 ||
		o.MinBackoff != 100*time.Millisecond || o.MaxBackoff != 2*time.Second || o.ResubscribeWindow != time.Minute {
		t.Fatalf("defaults = %+v", o)
	}
	if o := (Options{MaxRetries: -1}).withDefaults(); o.MaxRetries != 0 {
		t.Fatalf("MaxRetries -1 means no retries, got %d", o.MaxRetries)
	}
}

// The server's refusals that the contract names, as the client reports them (code Unknown
// wrapping the gRPC status; messages from KurrentDB's RpcExceptions).
func TestRefusals(t *testing.T) {
	cases := []struct {
		err  error
		want error
	}{
		{unknownError(status.Error(codes.InvalidArgument, "Maximum Append Size of 1048576 Exceeded.")), eventstore.ErrTooLarge},
		{unknownError(status.Error(codes.InvalidArgument, "Event with Id: x, Size: 2000000, exceeds Maximum Append Event Size of 1048576.")), eventstore.ErrTooLarge},
		{fmt.Errorf("read: %w", status.Error(codes.InvalidArgument, "Trying to read from an invalid position.")), eventstore.ErrInvalidPosition},
		{unknownError(status.Error(codes.InvalidArgument, "Required Metadata Property 'type' is missing")), nil},
		{nil, nil},
	}
	for _, c := range cases {
		if got := refusal(c.err); got != c.want {
			t.Errorf("refusal(%v) = %v, want %v", c.err, got, c.want)
		}
	}
	s := quickFail(t, Options{MaxRetries: -1})
	err := s.appendError(context.Background(), "big-1", eventstore.Any, cases[0].err)
	if !errors.Is(err, eventstore.ErrTooLarge) {
		t.Errorf("the server's size refusal maps to %v, want ErrTooLarge", err)
	}
}

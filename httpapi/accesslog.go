package httpapi

import (
	"io"
	"strconv"
	"sync"
	"time"
)

// DefaultAccessLogPending is the default AccessLogOptions.MaxPending: the bytes of access lines that
// may wait for the writer before a request that logs one waits for it too.
const DefaultAccessLogPending = 1 << 20

// AccessLogOptions configure an AccessLog.
type AccessLogOptions struct {
	// JSON writes each line as a JSON object (hclog's JSON format: @level, @message, @module,
	// @timestamp and the fields); otherwise hclog's text format.
	JSON bool
	// Name is the logger name shown in the line (hclog's module), for example "freezeledger.http".
	Name string
	// MaxPending bounds the bytes waiting to be written (0: DefaultAccessLogPending). Beyond it a
	// request that logs waits until the writer has taken the waiting lines: memory stays bounded and
	// no line is dropped.
	MaxPending int
}

// AccessLog writes the server's one line per request. A line is formatted into bytes without
// reflection and appended to a buffer that one goroutine writes out, all the lines waiting at once
// in one Write, every accessFlushEvery (50 ms) or as soon as accessFlushBytes (64 KiB) wait: hclog
// formats through fmt and reflection and makes one write system call per line, which was about
// 15 % of a status read's CPU under load (docs/BENCHMARKS.md). Lines look like hclog's (text or
// JSON) at level info, with the time the line was logged.
//
// Lines are written in the order they were logged, within 50 ms; a line logged before Close
// returns is written by then. Write errors are ignored, as hclog ignores them. It is safe for
// concurrent use.
type AccessLog struct {
	out  io.Writer
	opts AccessLogOptions

	mu      sync.Mutex
	space   sync.Cond // loggers wait on it while pending is full
	pending []byte
	closed  bool
	kick    chan struct{} // cap 1: enough is pending, write it now
	stop    chan struct{} // closed by Close
	once    sync.Once
	done    chan struct{}
}

const (
	accessFlushEvery = 50 * time.Millisecond
	accessFlushBytes = 64 << 10
)

// NewAccessLog starts an AccessLog writing to out. Close it to write what is pending and stop its
// goroutine.
func NewAccessLog(out io.Writer, o AccessLogOptions) *AccessLog {
	if o.MaxPending <= 0 {
		o.MaxPending = DefaultAccessLogPending
	}
	l := &AccessLog{out: out, opts: o, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	l.space.L = &l.mu
	go l.run()
	return l
}

// accessRecord is what one access line says.
type accessRecord struct {
	id, principal, method, route string
	status                       int
	duration                     time.Duration
	bytes                        int64
}

// log appends rec's line. After Close the line is written at once, by the caller.
func (l *AccessLog) log(rec *accessRecord) {
	var buf [512]byte
	line := l.format(buf[:0], time.Now(), rec)
	l.mu.Lock()
	for len(l.pending) >= l.opts.MaxPending && !l.closed {
		l.space.Wait()
	}
	if l.closed {
		l.mu.Unlock()
		_, _ = l.out.Write(line)
		return
	}
	l.pending = append(l.pending, line...)
	kick := len(l.pending) >= min(accessFlushBytes, l.opts.MaxPending)
	l.mu.Unlock()
	if kick {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
}

// run writes the waiting lines, all at once, until Close.
func (l *AccessLog) run() {
	defer close(l.done)
	tick := time.NewTicker(accessFlushEvery)
	defer tick.Stop()
	var spare []byte
	for {
		select {
		case <-l.kick:
		case <-tick.C:
		case <-l.stop:
		}
		l.mu.Lock()
		batch := l.pending
		l.pending = spare[:0]
		closed := l.closed
		l.space.Broadcast()
		l.mu.Unlock()
		if len(batch) > 0 {
			_, _ = l.out.Write(batch)
		}
		if closed {
			return
		}
		if cap(batch) > 4*l.opts.MaxPending {
			batch = nil // a burst grew it: let it go
		}
		spare = batch
	}
}

// Close writes the lines waiting and stops the writer. Lines logged later are written by their
// callers, one Write each. Calling it again does nothing.
func (l *AccessLog) Close() error {
	l.mu.Lock()
	l.closed = true
	l.space.Broadcast()
	l.mu.Unlock()
	l.once.Do(func() { close(l.stop) })
	<-l.done
	return nil
}

// accessTimeFormat is the time format of the lines (cmd/freezeledger's hclog TimeFormat).
const accessTimeFormat = "2006-01-02T15:04:05.000Z07:00"

// format appends rec's line, logged at now, to dst.
func (l *AccessLog) format(dst []byte, now time.Time, rec *accessRecord) []byte {
	if l.opts.JSON {
		dst = append(dst, `{"@level":"info","@message":"request","@module":`...)
		dst = appendJSONString(dst, l.opts.Name)
		dst = append(dst, `,"@timestamp":"`...)
		dst = now.AppendFormat(dst, accessTimeFormat)
		dst = append(dst, `","bytes":`...)
		dst = strconv.AppendInt(dst, rec.bytes, 10)
		dst = append(dst, `,"duration":`...)
		dst = strconv.AppendInt(dst, int64(rec.duration.Round(time.Microsecond)), 10)
		dst = append(dst, `,"method":`...)
		dst = appendJSONString(dst, rec.method)
		dst = append(dst, `,"principal":`...)
		dst = appendJSONString(dst, rec.principal)
		dst = append(dst, `,"request_id":`...)
		dst = appendJSONString(dst, rec.id)
		dst = append(dst, `,"route":`...)
		dst = appendJSONString(dst, rec.route)
		dst = append(dst, `,"status":`...)
		dst = strconv.AppendInt(dst, int64(rec.status), 10)
		return append(dst, "}\n"...)
	}
	dst = now.AppendFormat(dst, accessTimeFormat)
	dst = append(dst, " [INFO]  "...)
	if l.opts.Name != "" {
		dst = append(dst, l.opts.Name...)
		dst = append(dst, ": "...)
	}
	dst = append(dst, "request: request_id="...)
	dst = appendLogValue(dst, rec.id)
	dst = append(dst, " principal="...)
	dst = appendLogValue(dst, rec.principal)
	dst = append(dst, " method="...)
	dst = appendLogValue(dst, rec.method)
	dst = append(dst, " route="...)
	dst = appendLogValue(dst, rec.route)
	dst = append(dst, " status="...)
	dst = strconv.AppendInt(dst, int64(rec.status), 10)
	dst = append(dst, " duration="...)
	dst = append(dst, rec.duration.Round(time.Microsecond).String()...)
	dst = append(dst, " bytes="...)
	dst = strconv.AppendInt(dst, rec.bytes, 10)
	return append(dst, '\n')
}

// appendLogValue appends a text-format value: as it is when it is plain, quoted (Go syntax) when it
// is empty or holds a space, a quote, an '=' or anything outside printable ASCII, so that a line
// always splits back into its fields.
func appendLogValue(dst []byte, v string) []byte {
	if v == "" {
		return append(dst, `""`...)
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= ' ' || c > '~' || c == '"' || c == '=' {
			return strconv.AppendQuote(dst, v)
		}
	}
	return append(dst, v...)
}

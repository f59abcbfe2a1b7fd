package eventstore

import (
	"context"
	"time"

	"github.com/freezeledger/freezeledger/domain"
)

// AppendObserver is told of every append that succeeded through DomainLogObserved: how long the
// store took to acknowledge it (so durably written) and how many events it wrote. It is called on
// the appending goroutine, possibly from many at once, and must not block.
type AppendObserver func(took time.Duration, events int)

// DomainLogObserved is DomainLog(s) that calls observe after each successful Append (a failed one
// is not observed). It keeps every port DomainLog implements (domain.RangeReader,
// domain.GlobalReader, domain.PositionReader and, over a PipelinedAppender, domain.PipelinedLog): a
// wrapper around the domain.EventLog interface would hide them.
func DomainLogObserved(s Store, observe AppendObserver) domain.EventLog {
	o := observedLog{domainLog: domainLog{s: s}, observe: observe}
	if p, ok := s.(PipelinedAppender); ok {
		return observedPipelinedLog{o, p}
	}
	return o
}

type observedLog struct {
	domainLog
	observe AppendObserver
}

func (l observedLog) Append(ctx context.Context, stream string, expected int64, events []domain.NewEvent) (domain.Appended, error) {
	start := time.Now()
	a, err := l.domainLog.Append(ctx, stream, expected, events)
	return l.observed(start, len(events), a, err)
}

// observed tells observe of a successful append of n events started at start, and passes its
// outcome on.
func (l observedLog) observed(start time.Time, n int, a domain.Appended, err error) (domain.Appended, error) {
	if err == nil {
		l.observe(time.Since(start), n)
	}
	return a, err
}

// observedPipelinedLog is DomainLogObserved over a PipelinedAppender: a started append is observed
// when its wait returns, timed from its start.
type observedPipelinedLog struct {
	observedLog
	p PipelinedAppender
}

// StartAppend implements domain.PipelinedLog.
func (l observedPipelinedLog) StartAppend(ctx context.Context, stream string, expected int64, events []domain.NewEvent) func() (domain.Appended, error) {
	start := time.Now()
	wait := pipelinedLog{l.domainLog, l.p}.StartAppend(ctx, stream, expected, events)
	return func() (domain.Appended, error) {
		a, err := wait()
		return l.observed(start, len(events), a, err)
	}
}

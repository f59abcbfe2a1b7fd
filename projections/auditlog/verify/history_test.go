package verify

import (
	"errors"
	"strings"
	"testing"

	"github.com/freezeledger/freezeledger/domain"
)

func storedEvents(evs []domain.StoredEvent, fail error) func(func(domain.StoredEvent, error) bool) {
	return func(yield func(domain.StoredEvent, error) bool) {
		for _, ev := range evs {
			if !yield(ev, nil) {
				return
			}
		}
		if fail != nil {
			yield(domain.StoredEvent{}, fail)
		}
	}
}

func TestReplayHistory(t *testing.T) {
	meta := []byte(`{"actor":{"name":"ops-1"},"time":"2026-11-26T10:00:00Z"}`)
	evs := []domain.StoredEvent{
		{Data: []byte(`{"customer_id":"c-0"}`), Metadata: meta},
		{Data: []byte(`{"customer_id":"c-1"}`), Metadata: meta},
		{Data: []byte(`{"customer_id":"c-2"}`), Metadata: meta},
	}
	val := &rejectCustomer{id: "none"}
	if n, err := ReplayHistory(storedEvents(evs, nil), val); n != 3 || err != nil || val.checked != 3 {
		t.Fatalf("whole history: %d, %v (checked %d)", n, err, val.checked)
	}
	val = &rejectCustomer{id: "c-1"}
	n, err := ReplayHistory(storedEvents(evs, nil), val)
	if n != 1 || err == nil || !strings.HasPrefix(err.Error(), "leaf 1: rule 4") || val.checked != 2 {
		t.Fatalf("refused event: %d, %v (checked %d)", n, err, val.checked)
	}
	readErr := errors.New("read failed")
	if n, err := ReplayHistory(storedEvents(evs[:2], readErr), &rejectCustomer{id: "none"}); n != 2 || !errors.Is(err, readErr) {
		t.Fatalf("read error: %d, %v", n, err)
	}
	if n, err := ReplayHistory(storedEvents(nil, nil), finishFails{}); n != 0 || err == nil || err.Error() != "unfinished" {
		t.Fatalf("Finish: %d, %v", n, err)
	}
}

type finishFails struct{}

func (finishFails) Check(domain.StoredEvent) error { return nil }
func (finishFails) Finish() error                  { return errors.New("unfinished") }

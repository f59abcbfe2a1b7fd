package domain

// The rule 10 reservation protocol: a command that creates a partner or customer ID first claims it
// in the ID's reservation stream, and its decision must find the claim still held by its channel; a
// refused command gives the claim back, and an abandoned claim is taken over after releasing it in the
// holding channel's stream, which fences an association still in flight there.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// errReservationLost: the channel's reservation of an ID was taken over; claim it again.
var errReservationLost = errors.New("id reservation lost")

// entityKind is what an ID names, for the directory and the reservations of rule 10: a partner or a
// customer. Its zero value is neither.
type entityKind uint8

const (
	kindPartner entityKind = iota + 1
	kindCustomer
)

// String is the kind as reservation events write it (IDReserved.Kind, IDReservationReleased.Kind)
// and messages show it: "partner" or "customer".
func (k entityKind) String() string {
	switch k {
	case kindPartner:
		return "partner"
	case kindCustomer:
		return "customer"
	}
	return fmt.Sprintf("entityKind(%d)", uint8(k))
}

// parseEntityKind is the kind s names in a reservation event; false for anything but "partner" and
// "customer".
func parseEntityKind(s string) (entityKind, bool) {
	for _, k := range [...]entityKind{kindPartner, kindCustomer} {
		if s == k.String() {
			return k, true
		}
	}
	return 0, false
}

// reservationStream is the reservation stream of ID id of kind k (ReservationStream).
func (k entityKind) reservationStream(id string) string {
	if k == kindPartner {
		return PartnerReservationStreamPrefix + id
	}
	return CustomerReservationStreamPrefix + id
}

// claimAndRun runs a command that creates an ID (kind) in stream: a precheck (idempotent replay or
// refusal without touching the reservation stream), the claim, then the decision, which must find the
// reservation still held; a refusal after the claim gives the reservation back.
func (s *Service) claimAndRun(ctx context.Context, kind entityKind, id, stream string, m Meta, hash string, decide func(c *Channel, rev uint64, reserved bool) ([]pendingEvent, error)) (Result, error) {
	pre, err := s.run(ctx, stream, m, hash, func(c *Channel, _ time.Time) ([]pendingEvent, error) {
		_, err := decide(c, 0, false) // the precheck appends nothing
		return nil, err
	})
	if err != nil || pre.Replayed {
		return pre, err
	}
	for attempt := 0; attempt < 8; attempt++ {
		rev, err := s.claim(ctx, kind, id, stream, m.RequestID)
		if err != nil {
			return Result{}, err
		}
		res, err := s.run(ctx, stream, m, hash, func(c *Channel, _ time.Time) ([]pendingEvent, error) {
			return decide(c, rev, true)
		})
		if errors.Is(err, errReservationLost) {
			continue
		}
		if err != nil && ErrorCode(err) != "" && ErrorCode(err) != CodeUnavailable {
			// Refused after the claim (the state changed meanwhile): give the reservation back.
			_ = s.releaseReservation(stream, kind, id, rev, m.RequestID, "the "+kind.String()+" command it was made for was refused")
		}
		if err == nil {
			s.mu.Lock()
			s.dir(kind)[id] = stream
			s.mu.Unlock()
		}
		return res, err
	}
	return Result{}, Errorf(CodeConflict, "rule 10: %s %q is contended by several partners; try again", kind, id)
}

func (s *Service) releaseReservation(stream string, kind entityKind, id string, rev uint64, requestID, reason string) error {
	r := newRequest(Meta{Actor: SystemActor, RequestID: requestID}, "", func(c *Channel, e *emitter) error {
		pend, err := c.decideReleaseReservation(kind, id, rev, reason)
		if err != nil {
			return err
		}
		e.emit(pend...)
		return nil
	})
	return s.exec(stream, r)
}

// claim makes stream the holder of the live reservation of ID id and returns that reservation's
// revision in the reservation stream (rule 10). An earlier reservation by the same channel is reused;
// another channel's is a conflict if the ID is taken there or the reservation is younger than
// ReservationGrace, and is otherwise taken over after releasing it in the holder's stream (which
// fences an association still in flight there).
func (s *Service) claim(ctx context.Context, kind entityKind, id, stream, requestID string) (uint64, error) {
	rs := kind.reservationStream(id)
	for attempt := 0; attempt < 8; attempt++ {
		evs, err := s.log.Read(ctx, rs, 0)
		if err != nil {
			return 0, fmt.Errorf("reading %s: %w", rs, err)
		}
		expected := ExpectNoStream
		if len(evs) > 0 {
			last := evs[len(evs)-1]
			expected = int64(last.Revision)
			var d IDReserved
			if last.Type != EventIDReserved || json.Unmarshal(last.Data, &d) != nil {
				return 0, fmt.Errorf("%s revision %d: unexpected %s event", rs, last.Revision, last.Type)
			}
			if !strings.HasPrefix(d.Channel, ChannelStreamPrefix) {
				return 0, fmt.Errorf("%s revision %d: reservation names %q, not a channel stream", rs, last.Revision, d.Channel)
			}
			var taken, released bool
			if err := s.query(d.Channel, func(c *Channel) {
				taken = c.holds(kind, id)
				_, released = c.released[reservationKey{kind, id, last.Revision}]
			}); err != nil {
				return 0, err
			}
			switch {
			case taken && d.Channel == stream:
				return 0, Errorf(CodeConflict, "rule 10: %s %q already exists", kind, id)
			case taken:
				return 0, Errorf(CodeConflict, "rule 10: %s %q is already associated with another partner", kind, id)
			case d.Channel == stream && !released:
				return last.Revision, nil // this channel's own reservation (an earlier attempt's): reuse it
			}
			if !released {
				var m Metadata
				_ = json.Unmarshal(last.Metadata, &m)
				if s.now().Sub(m.Time) < s.opts.ReservationGrace {
					return 0, Errorf(CodeConflict, "rule 10: %s %q is being associated with another partner right now", kind, id)
				}
				if err := s.releaseReservation(d.Channel, kind, id, last.Revision, requestID, "abandoned reservation taken over by "+stream); err != nil {
					if ErrorCode(err) == CodeConflict {
						return 0, Errorf(CodeConflict, "rule 10: %s %q is already associated with another partner", kind, id)
					}
					return 0, err
				}
			}
		}
		meta := Metadata{SchemaVersion: SchemaVersions[EventIDReserved], Actor: SystemActor, Time: s.now(), RequestID: requestID}
		mb, _ := json.Marshal(meta)
		data, _ := json.Marshal(IDReserved{Kind: kind.String(), ID: id, Channel: stream})
		app, err := s.log.Append(ctx, rs, expected, []NewEvent{{ID: s.opts.NewID(), Type: EventIDReserved, Data: data, Metadata: mb}})
		if errors.Is(err, ErrWrongRevision) {
			continue
		}
		if err != nil {
			if errors.Is(err, ErrStoreUnavailable) {
				return 0, &Error{Code: CodeUnavailable, Message: fmt.Sprintf("appending to %s: %v", rs, err)}
			}
			return 0, fmt.Errorf("appending to %s: %w", rs, err)
		}
		return app.Revision, nil
	}
	return 0, Errorf(CodeConflict, "rule 10: %s %q is contended; try again", kind, id)
}

// reservationKey names one reservation: the ID and the revision of its id.reserved event in the
// ID's reservation stream.
type reservationKey struct {
	kind entityKind
	id   string
	rev  uint64
}

// decideReleaseReservation gives up this channel's reservation rev of an ID (rule 10): permitted
// while the ID is not registered or associated here and that reservation was not released yet.
func (c *Channel) decideReleaseReservation(kind entityKind, id string, rev uint64, reason string) ([]pendingEvent, error) {
	switch kind {
	case kindCustomer:
		if c.holds(kindCustomer, id) {
			return nil, Errorf(CodeConflict, "rule 10: customer %q is associated in %s; its reservation cannot be released", id, c.stream)
		}
	case kindPartner:
		if _, ok := c.partners[id]; ok {
			return nil, Errorf(CodeConflict, "rule 10: partner %q is registered in %s; its reservation cannot be released", id, c.stream)
		}
	default:
		return nil, Errorf(CodeInvalid, "reservation kind must be partner or customer, not %q", kind)
	}
	if _, ok := c.released[reservationKey{kind, id, rev}]; ok {
		return nil, nil
	}
	return []pendingEvent{{EventIDReservationReleased, &IDReservationReleased{Kind: kind.String(), ID: id, Channel: c.stream, Reason: reason, ReservationRevision: rev}}}, nil
}

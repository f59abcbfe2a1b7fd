package domain

import (
	"bytes"
	"cmp"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
	"unsafe"
)

// channelDiff returns the names of the fields of Channel in which a and b differ, each compared
// with reflect.DeepEqual (so a field added to Channel, or to a type it holds, is compared without
// being listed here). Where the two may differ and mean the same, the field is compared for what
// it means: an empty map and a nil one are the same; the key queue (keyTTL.order) is compared as
// the set of its live items (those of keys still remembered, first used when the item says); the
// journal (j) is nil outside a round.
func channelDiff(a, b *Channel) []string {
	x, y := normalChannel(a), normalChannel(b)
	va, vb := reflect.ValueOf(&x).Elem(), reflect.ValueOf(&y).Elem()
	var out []string
	for i := range va.NumField() {
		name := va.Type().Field(i).Name
		fa, fb := exposed(va.Field(i)), exposed(vb.Field(i))
		if !reflect.DeepEqual(fa, fb) {
			out = append(out, name)
		}
	}
	if a.keyTTL.ttl != b.keyTTL.ttl || !slices.Equal(liveQueue(a), liveQueue(b)) {
		out = append(out, "keyTTL")
	}
	return out
}

// exposed is the value of field f (unexported fields included) as an interface.
func exposed(f reflect.Value) any {
	return reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Interface()
}

// normalChannel is a shallow copy of c with its empty maps nil and the key queue left out
// (channelDiff compares it on its own).
func normalChannel(c *Channel) Channel {
	n := *c
	n.keyTTL = idemExpiry{}
	nilIfEmpty(&n.partners)
	nilIfEmpty(&n.customers)
	nilIfEmpty(&n.released)
	nilIfEmpty(&n.idem)
	nilIfEmpty(&n.idemRuns)
	nilIfEmpty(&n.due)
	nilIfEmpty(&n.bills)
	nilIfEmpty(&n.records)
	nilIfEmpty(&n.lapsing)
	return n
}

func nilIfEmpty[K comparable, V any](m *map[K]V) {
	if len(*m) == 0 {
		*m = nil
	}
}

// liveQueue is the items of c's key queue that stand for a remembered key, sorted.
func liveQueue(c *Channel) []idemAged {
	var out []idemAged
	for _, it := range c.keyTTL.order.items[c.keyTTL.order.head:] {
		if e, ok := c.idem[it.id]; ok && e.seen == it.seen {
			out = append(out, it)
		}
	}
	slices.SortFunc(out, func(p, q idemAged) int {
		return cmp.Or(cmp.Compare(p.seen, q.seen), strings.Compare(string(p.id[:]), string(q.id[:])))
	})
	return slices.CompactFunc(out, func(p, q idemAged) bool { return p == q })
}

// SnapshotReplayDiffForTest replays evs (one channel stream's events, in revision order, from the
// first) twice with key TTL ttl: once whole, and once through a snapshot taken after revision at
// (the first at+1 events applied, the state encoded, decoded with its header checked against the
// log, the key queue rebuilt, the rest applied). It returns the fields in which the two differ,
// at the snapshot and at the end, prefixed with which ("at the snapshot: root"), or an error when
// a step failed (a snapshot that does not decode, or that encodes to other bytes once decoded).
func SnapshotReplayDiffForTest(evs []StoredEvent, at int, ttl time.Duration) ([]string, error) {
	if at < 0 || at >= len(evs) {
		return nil, fmt.Errorf("revision %d of %d events", at, len(evs))
	}
	stream := evs[0].Stream
	replay := func(c *Channel, evs []StoredEvent) error {
		for i := range evs {
			if err := c.applyStored(&evs[i]); err != nil {
				return err
			}
		}
		return nil
	}
	full, part := NewChannel(stream), NewChannel(stream)
	full.keyTTL.ttl, part.keyTTL.ttl = ttl, ttl
	if err := replay(full, evs); err != nil {
		return nil, err
	}
	if err := replay(part, evs[:at+1]); err != nil {
		return nil, err
	}
	last := evs[at]
	b := encodeSnapshot(part, last.ID)
	want := snapshotHeader{stream: stream, revision: int64(last.Revision), lastID: last.ID, position: last.Position}
	dec, err := decodeSnapshot(b, func(h snapshotHeader) error {
		if h != want {
			return fmt.Errorf("header %+v, want %+v", h, want)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(encodeSnapshot(dec, last.ID), b) {
		return nil, fmt.Errorf("the snapshot at revision %d, decoded, encodes to other bytes", at)
	}
	dec.keyTTL.ttl = ttl
	dec.rebuildKeyQueue()
	var diffs []string
	for _, f := range channelDiff(part, dec) {
		diffs = append(diffs, "at the snapshot: "+f)
	}
	if err := replay(dec, evs[at+1:]); err != nil {
		return nil, err
	}
	for _, f := range channelDiff(full, dec) {
		diffs = append(diffs, "after the rest: "+f)
	}
	return diffs, nil
}

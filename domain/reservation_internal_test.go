package domain

import (
	"encoding/json"
	"testing"
)

// TestEntityKindWrittenForms: the kinds write the bytes reservation events and streams have always
// held ("partner", "customer"), and read them back; any other text is no kind.
func TestEntityKindWrittenForms(t *testing.T) {
	for _, tc := range []struct {
		kind   entityKind
		text   string
		stream string
	}{
		{kindPartner, "partner", "reservation-partner-p-1"},
		{kindCustomer, "customer", "reservation-customer-p-1"},
	} {
		if got := tc.kind.String(); got != tc.text {
			t.Errorf("%d.String() = %q, want %q", tc.kind, got, tc.text)
		}
		if k, ok := parseEntityKind(tc.text); !ok || k != tc.kind {
			t.Errorf("parseEntityKind(%q) = %v, %v; want %v", tc.text, k, ok, tc.kind)
		}
		if got := tc.kind.reservationStream("p-1"); got != tc.stream {
			t.Errorf("%v.reservationStream = %q, want %q", tc.kind, got, tc.stream)
		}
		if got := ReservationStream(tc.text, "p-1"); got != tc.stream {
			t.Errorf("ReservationStream(%q) = %q, want %q", tc.text, got, tc.stream)
		}
		b, err := json.Marshal(IDReserved{Kind: tc.kind.String(), ID: "p-1", Channel: "channel-d"})
		if want := `{"kind":"` + tc.text + `","id":"p-1","channel":"channel-d"}`; err != nil || string(b) != want {
			t.Errorf("IDReserved = %s (%v), want %s", b, err, want)
		}
	}
	for _, s := range []string{"", "Partner", "reseller", "partner "} {
		if k, ok := parseEntityKind(s); ok {
			t.Errorf("parseEntityKind(%q) = %v, want no kind", s, k)
		}
	}
	if _, err := NewChannel("channel-d").decideReleaseReservation(0, "p-1", 0, "r"); ErrorCode(err) != CodeInvalid {
		t.Errorf("releasing a reservation of no kind: %v, want invalid", err)
	}
}

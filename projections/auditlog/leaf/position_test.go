package leaf

import "testing"

func TestParsePositionRoundTrips(t *testing.T) {
	for _, c := range []struct {
		s    string
		want Position
	}{{"0", Position{}}, {"1042", Position{1042, 1042}}, {"7/3", Position{7, 3}}, {"18446744073709551615", Position{1<<64 - 1, 1<<64 - 1}}} {
		p, err := ParsePosition(c.s)
		if err != nil || p != c.want || p.String() != c.s {
			t.Errorf("%q: %+v (%s), %v", c.s, p, p, err)
		}
	}
	for _, bad := range []string{"", "-1", "01", "1/1", "1/01", "1/", "/1", "1e3", " 1", "18446744073709551616", "position:5"} {
		if p, err := ParsePosition(bad); err == nil {
			t.Errorf("%q accepted as %+v", bad, p)
		}
	}
	if !(Position{1, 5}).Less(Position{2, 0}) || !(Position{2, 0}).Less(Position{2, 1}) || (Position{2, 1}).Less(Position{2, 1}) {
		t.Error("positions are ordered by commit, then prepare")
	}
}

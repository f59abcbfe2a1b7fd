package httpapi

import (
	"reflect"
	"testing"
	"unicode/utf8"
)

// flatProbe is a flat type with more shapes than the freeze bodies: a Go-named field, an
// omitempty tag, an ignored field and an unexported one.
type flatProbe struct {
	Reason  string `json:"reason"`
	Type    string `json:"freeze_type,omitempty"`
	Plain   string
	Ignored string `json:"-"`
	hidden  string
}

// FuzzDecodeFlat: whatever decodeFlat accepts, decodeStrict's full path accepts too, with the same
// value; and what it declines it leaves untouched.
func FuzzDecodeFlat(f *testing.F) {
	for _, s := range []string{
		`{"reason":"r","freeze_type":"ACCOUNT"}`, ` { "reason" : "a\"b\u00e9\ud83d\ude00" } `, `{}`,
		`{"reason":"r","reason":"s"}`, `{"Reason":"r"}`, `{"reason":1}`, `{"reason":null}`,
		`{"reason":"tab\there"}`, `{"reason":"x"} {}`, `{"re\u0061son":"x"}`, `{"Plain":"p","Ignored":"i"}`,
		`{"hidden":"h"}`, `{"reason":"\u0085"}`, `{"reason":"ok",}`, `{"reason":"` + "\x7f" + `"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !utf8.Valid(b) {
			return
		}
		for _, probe := range []func() (any, any, func() bool){
			func() (any, any, func() bool) {
				var fast, full freezeRequest
				return &fast, &full, func() bool { return fast == full }
			},
			func() (any, any, func() bool) {
				var fast, full flatProbe
				return &fast, &full, func() bool { return fast == full }
			},
		} {
			fast, full, same := probe()
			if !decodeFlat(b, fast) {
				if !same() {
					t.Fatalf("%q: declined but changed the value", b)
				}
				continue
			}
			if err := decodeFull(b, full); err != nil {
				t.Fatalf("%q: the fast path accepted what the full path refuses: %v", b, err)
			}
			if !same() {
				t.Fatalf("%q: fast %+v, full %+v", b, fast, full)
			}
		}
	})
}

// TestDecodeFlatTakesTheFreezeBodies: the bodies freeze and unfreeze are sent take the fast path
// (were they declined, decodeStrict would still be right, only slower).
func TestDecodeFlatTakesTheFreezeBodies(t *testing.T) {
	var fr freezeRequest
	if !decodeFlat([]byte(`{"reason":"unpaid invoice","freeze_type":"ACCOUNT"}`), &fr) || fr.FreezeType != "ACCOUNT" || fr.Reason != "unpaid invoice" {
		t.Fatalf("freeze body: %+v", fr)
	}
	var ur unfreezeRequest
	if !decodeFlat([]byte(`{"reason":"paid","unfreeze_type":"ACCOUNT"}`), &ur) || ur.UnfreezeType != "ACCOUNT" {
		t.Fatalf("unfreeze body: %+v", ur)
	}
	var p flatProbe
	if !decodeFlat([]byte(`{"Plain":"p"}`), &p) || p.Plain != "p" || decodeFlat([]byte(`{"hidden":"h"}`), &p) || p.hidden != "" {
		t.Fatalf("a Go-named field is decoded, an unexported one is no field: %+v", p)
	}
	if flatFieldsOf(reflect.TypeFor[struct{ N int }]()) != nil {
		t.Fatal("a struct with an int field is not flat")
	}
}

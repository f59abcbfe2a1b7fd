package httpapi

import (
	"reflect"
	"strings"
	"sync"

	"github.com/freezeledger/freezeledger/internal/jsonwire"
)

// The fast path of decodeStrict for the most frequent bodies, those of freeze and unfreeze: a flat
// object of strings. encoding/json's decoder and the duplicate-key walk before it cost about ten
// times the request's other decoding work; this path scans the body once with jsonwire.

// flatField is one field of a flat request type: its exact JSON name and its index in the struct.
type flatField struct {
	name  string
	index int
}

var flatCache sync.Map // reflect.Type → []flatField (nil: not a flat type)

// flatFieldsOf returns the fields of t when t is a flat request type, a struct whose JSON fields
// are all plain strings (no embedded structs, no tag options but omitempty, distinct names), with
// at most 64 of them; nil otherwise.
func flatFieldsOf(t reflect.Type) []flatField {
	if fs, ok := flatCache.Load(t); ok {
		return fs.([]flatField)
	}
	var fs []flatField
	flat := t.Kind() == reflect.Struct && t.NumField() <= 64
	for i := 0; flat && i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			flat = !f.Anonymous
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		flat = f.Type.Kind() == reflect.String && f.Type.PkgPath() == "" && !f.Anonymous &&
			(opts == "" || opts == "omitempty")
		for _, g := range fs {
			flat = flat && !strings.EqualFold(g.name, name)
		}
		fs = append(fs, flatField{name: name, index: i})
	}
	if !flat {
		fs = nil
	}
	flatCache.Store(t, fs)
	return fs
}

// decodeFlat decodes b into v, a pointer to a flat request type, when b is one JSON object whose
// keys are distinct fields of it, written without escapes, and whose values are strings free of
// control characters (freeText), and reports true. For anything else it reports false and leaves v
// as it was: decodeStrict then decides, and explains a refusal. b must be valid UTF-8. What it
// accepts, decodeStrict's full path accepts with the same result (FuzzDecodeFlat holds this).
func decodeFlat(b []byte, v any) bool {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return false
	}
	fields := flatFieldsOf(rv.Type().Elem())
	if fields == nil {
		return false
	}
	var vals [64]string
	var seen uint64
	err := jsonwire.Members(b, func(key, value []byte) error {
		if len(value) == 0 || value[0] != '"' {
			return jsonwire.ErrSyntax
		}
		for i, f := range fields {
			if f.name != string(key) {
				continue
			}
			if seen&(1<<i) != 0 {
				return jsonwire.ErrSyntax
			}
			s, err := jsonwire.Unquote(value)
			if err != nil || freeText("", string(s)) != nil {
				return jsonwire.ErrSyntax
			}
			seen |= 1 << i
			vals[i] = string(s)
			return nil
		}
		return jsonwire.ErrSyntax // unknown, or written with escapes
	})
	if err != nil {
		return false
	}
	e := rv.Elem()
	for i, f := range fields {
		if seen&(1<<i) != 0 {
			e.Field(f.index).SetString(vals[i])
		}
	}
	return true
}

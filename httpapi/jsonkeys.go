package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"

	"github.com/freezeledger/freezeledger/domain"
)

// checkKeys is the pre-pass every request body goes through before encoding/json decodes it into
// a value of type t. It walks the JSON with json.Decoder.Token and refuses, as invalid:
//
//   - in an object that decodes into a struct, a key that is not exactly one of the struct's JSON
//     names: encoding/json matches names case-insensitively, so {"REASON":…} would be taken, and of
//     {"reason":"a","Reason":"b"} the second would win;
//   - a key given twice in one object, at any depth (parsers differ on which one wins);
//   - a string value, at any depth, with a control character (freeText).
//
// A syntax error stops the walk without an error, so that Decode reports it as before. t nil means
// no struct is known: only duplicates and control characters are checked.
func checkKeys(b []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	err := walkValue(dec, t, "", 0)
	if err == errSyntax {
		return nil
	}
	return err
}

// errSyntax ends a walk at malformed JSON (reported by the decoder that runs next).
var errSyntax = fmt.Errorf("syntax")

// maxDepth bounds the nesting the walk follows; no request body nests deeper than 2.
const maxDepth = 32

func walkValue(dec *json.Decoder, t reflect.Type, path string, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return errSyntax
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch v := tok.(type) {
	case json.Delim:
		if depth >= maxDepth {
			return errorf(domain.CodeInvalid, "the JSON body nests deeper than %d levels", maxDepth)
		}
		if v == '{' {
			return walkObject(dec, t, path, depth+1)
		}
		if v == '[' {
			var elem reflect.Type
			if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
				elem = t.Elem()
			}
			for i := 0; dec.More(); i++ {
				if err := walkValue(dec, elem, fmt.Sprintf("%s[%d]", path, i), depth+1); err != nil {
					return err
				}
			}
			if _, err := dec.Token(); err != nil {
				return errSyntax
			}
		}
	case string:
		return freeText(path, v)
	}
	return nil
}

func walkObject(dec *json.Decoder, t reflect.Type, path string, depth int) error {
	var fields map[string]reflect.Type
	if t != nil && t.Kind() == reflect.Struct {
		fields = jsonFields(t)
	}
	var seenBuf [8]string // request objects have a handful of keys: a list beats a map
	seen := seenBuf[:0]
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return errSyntax
		}
		key, ok := tok.(string)
		if !ok {
			return errSyntax
		}
		name := key
		if path != "" {
			name = path + "." + key
		}
		for _, k := range seen {
			if k == key {
				return errorf(domain.CodeInvalid, "field %q is given twice; give each field once", clip(name))
			}
		}
		seen = append(seen, key)
		var ft reflect.Type
		if fields != nil {
			if ft, ok = fields[key]; !ok {
				return errorf(domain.CodeInvalid, "unknown field %q (field names are case-sensitive)", clip(name))
			}
		}
		if err := walkValue(dec, ft, name, depth); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return errSyntax
	}
	return nil
}

var fieldCache sync.Map // reflect.Type → map[string]reflect.Type

// jsonFields maps the exact JSON names of a struct's fields to their types, as encoding/json names
// them (the json tag's name, else the Go name; "-" is no field).
func jsonFields(t reflect.Type) map[string]reflect.Type {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]reflect.Type)
	}
	m := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = f.Type
	}
	fieldCache.Store(t, m)
	return m
}

// freeText refuses a string with a control character: C0 (U+0000 to U+001F, so also tab, line feed
// and carriage return), DEL (U+007F) and C1 (U+0080 to U+009F). Every string of a request body goes
// through it, so every free-text field (reasons, names, tags, account managers) is one line of
// printable text; IDs and enumerations have stricter rules of their own.
func freeText(field, s string) error {
	for i, r := range s {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) {
			if field == "" {
				field = "(body)"
			}
			return errorf(domain.CodeInvalid, "%s contains the control character U+%04X at byte %d; free text may hold no control characters (tab, line breaks and escape sequences included)", clip(field), r, i)
		}
	}
	return nil
}

// Package jsonwire is freezeledger's one hand-written JSON scanner and string escaper, shared by the
// fast paths that encoding/json is too slow for: the domain's event decoding, the read models' field
// extraction, the audit leaf's canonicaliser and the API's status encoder. It imports only the
// standard library, so that the domain may use it.
//
// The scanner works on a []byte with indexes and never allocates: String, Number, Literal and Value
// check one token or value and return the index after it; Members and Elements walk an object's
// members or an array's elements as views into the input. Strings are returned as their raw bodies
// and decoded on demand (Unescape, Unquote), exactly as encoding/json decodes them. AppendString
// writes a string in one of the escapings encoding/json produces (Mode).
//
// Every function agrees with encoding/json on what is valid JSON and on what a string decodes to or
// encodes as; the tests and fuzz targets of this package hold them to that. What a caller accepts
// beyond that (a narrower fast path that gives up, a contract of its own) stays with the caller.
package jsonwire

// Package leaf is freezeledger's audit log format, everything an outside verifier needs and nothing
// of how the log is stored: the event as exports show it, its leaf bytes and leaf hash, the signed
// checkpoint, the export line and the bundle. It imports only the standard library and
// golang.org/x/mod/sumdb/note. docs/AUDIT.md says the same for auditors, with examples.
//
// # Leaves
//
// The log is an RFC 6962 Merkle tree (SHA-256) over every event freezeledger stored, in the store's
// global order. Leaf i is the event shown with "index": i, the number of events before it.
//
// An event's JSON object (Event; the API's event shape and an export line) has the members index,
// position, actor {name, partner_id, role}, data, event_id, metadata, revision, stream, time, type
// and leaf_hash. Its leaf bytes (Event.CanonicalBytes) are that object without index, position and
// leaf_hash, serialised
//
//   - with no insignificant whitespace;
//   - object members sorted by key, at every depth, bytewise on the key's UTF-8 (that is, by
//     Unicode code point); of duplicate keys the last wins; array order kept;
//   - numbers exactly as written;
//   - strings escaped minimally: '"' and '\' as \" and \\; the control characters U+0000 to U+001F
//     as \b \t \n \f \r or \u00XX (lower-case hex); U+2028 and U+2029 as \u2028 and \u2029;
//     everything else (including '<', '>', '&', U+007F and all non-ASCII) as raw UTF-8; invalid
//     UTF-8 and escaped lone surrogates become U+FFFD.
//
// This is what Go's encoding/json writes for the object decoded with UseNumber and encoded with
// SetEscapeHTML(false), and it is RFC 8785 (JCS) but for the differences listed below. The members
// of the leaf bytes are always, in this order:
//
//	{"actor":{"name":…,"partner_id":…,"role":…},"data":{…},"event_id":…,"metadata":{…},"revision":N,"stream":…,"time":…,"type":…}
//
// time is the event's recorded time in UTC truncated to milliseconds (TimeFormat); metadata is the
// stored metadata without actor and time. The leaf hash is SHA-256(0x00 || leaf bytes) (RFC 6962
// §2.1, HashLeaf), shown in standard padded base64 as leaf_hash. An interior node is
// SHA-256(0x01 || left || right); the empty tree's root is SHA-256("").
//
// # The leaf and RFC 8785 (JCS)
//
// The leaf bytes were fixed before they were compared with JCS, and existing logs are signed over
// them, so they are kept (and pinned by testdata/leaf.golden). They differ from JCS in exactly these
// points:
//
//  1. U+2028 and U+2029 are escaped (\u2028, \u2029); JCS writes them raw. JCS output holds them
//     only inside strings, so replacing every raw U+2028 / U+2029 of a JCS serialisation with the
//     six characters \u2028 / \u2029 gives the leaf bytes.
//  2. Keys are sorted by code point (bytewise UTF-8); JCS sorts by UTF-16 code units. The two
//     orders differ only between a key character in U+E000..U+FFFF and one above U+FFFF at the same
//     place.
//  3. Numbers keep their text; JCS writes the ECMAScript form of the IEEE 754 double (1e2 is 100,
//     1.0 is 1, -0 is 0, integers beyond 2^53 are rounded). For an integer written in its shortest
//     decimal form with magnitude below 2^53 the two are the same.
//  4. Input JCS rejects (I-JSON, RFC 7493) is canonicalised here: duplicate keys (the last wins),
//     invalid UTF-8 and escaped lone surrogates (each becomes U+FFFD).
//
// Control characters are escaped exactly as JCS escapes them, and '<', '>', '&', U+007F and
// non-ASCII are raw in both. The events freezeledger writes meet none of 2 to 4: their data and
// metadata are encoding/json serialisations of the domain's event structs, whose keys are ASCII
// member names, whose numbers are non-negative integers (revision, reservation_revision,
// schema_version) and whose strings are valid UTF-8 without duplicate keys. So for every leaf of a
// freezeledger log, JCS of the export line's object without index, position and leaf_hash, with
// difference 1 applied, is the leaf bytes; a line that needs 2 to 4 was not written by freezeledger
// and fails verification whichever form a verifier uses.
//
// # Checkpoints
//
// A checkpoint (Checkpoint) is a note (golang.org/x/mod/sumdb/note) signed with Ed25519 whose text
// is the C2SP tlog-checkpoint body: the origin, the tree size in decimal and the root hash in
// standard base64, each on its own line; extension lines may follow and are ignored. The key's name
// is the origin. OpenCheckpoint checks the signature and the origin against a verifier key
// "<name>+<key hash>+<base64(0x01 || public key)>" obtained independently of the log.
//
// # Exports and bundles
//
// An export is JSON Lines, one event per line in leaf order (AppendLine writes them, LineParser
// reads them and recomputes their leaf hashes). Positions (Position) strictly increase. A bundle is
// a directory of BundleEvents, BundleCheckpoint, BundleProof (a RangeProof) and BundlePublicKey;
// OpenBundle reads one. The range proof's Left and Right are the compact ranges of the leaves before
// and after the export (github.com/transparency-dev/merkle/compact): merged with the export's leaf
// hashes they give the checkpoint's root.
package leaf

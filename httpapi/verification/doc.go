// Package verification keeps the TOTP enrolments of the API's principals and checks their codes
// (rule 19): RFC 6238 codes of 6 digits, 30-second steps, HMAC-SHA-1, one step of clock drift either
// way (codes.go, on github.com/pquerna/otp); each principal's secret sealed with AES-256-GCM under a
// key file of the directory (seal.go); a code accepted once per principal, and five wrong codes
// within 5 minutes locking the principal for 15 minutes (store.go).
//
// Everything lives in one directory (by default <data-dir>/verification, mode 0700): secrets.key
// (the sealing key, 0600), state.json (0600: per principal its sealed secrets, the last accepted
// step, its recent wrong codes and its lockout) and lock. Every operation takes an exclusive flock
// on lock, reads state.json, and writes it back atomically (temporary file, fsync, rename, directory
// fsync) before it answers, so used codes and lockouts survive a crash or a restart, and several
// server processes sharing the directory (several instances on one EventStoreDB, the directory on a
// shared file system with working flock) accept a code once between them. Secrets and codes never
// enter the event log, a log line or an error message; the state file holds only sealed secrets and
// step numbers (which say nothing about the codes without the secret).
package verification

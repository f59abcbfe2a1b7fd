// Package console is freezeledger's web console (shared/API.md, "Console"; docs/CONSOLE.md): server-
// rendered html/template pages for partner operators and compliance staff, served by the same binary
// under /console/, with a small script and stylesheet embedded as static files.
//
// No side door: every read and every write of a page goes through the HTTP API's own handler, called
// in-process with the signed-in principal's bearer token (apiClient). What a principal sees and may do
// in the console is therefore exactly what the API lets it see and do; a refusal is shown with the
// API's problem detail.
//
// Security contracts:
//   - The token is exchanged for a session at sign-in (POST /console/login). It is kept in this
//     process's memory only, as part of the session, and never written to a URL, a log, a cookie or
//     the browser's storage. The session cookie is HttpOnly, SameSite=Strict, Path=/console/ and Secure
//     under TLS (or with Options.SecureCookies).
//   - A session ends at sign-out, after Options.IdleTimeout without a request, after
//     Options.MaxLifetime, and at the first request after its principal left the principals file (the
//     token no longer identifies anyone).
//   - Every form carries a CSRF token (per session; before sign-in a double-submit cookie) and every
//     POST without the right one is refused with 403 before anything is done.
//   - Every answer carries a Content-Security-Policy without 'unsafe-inline' (scripts and styles come
//     only from /console/static/), frame-ancestors 'none', nosniff and no-referrer; pages are no-store.
//   - Output is escaped by html/template only.
//   - Live pages (GET /console/live) pass the principal's own change feed (GET /v1/changes, server-
//     sent events) through; the stream ends at its first write after the session ended.
package console

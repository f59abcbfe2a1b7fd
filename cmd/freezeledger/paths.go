package main

import "path/filepath"

// The data directory's layout. Every subcommand that takes --data-dir finds things here.
//
//	<data-dir>/store/            the embedded event store (eventstore/embedded)
//	<data-dir>/projections/      read-model checkpoints (projections)
//	<data-dir>/audit/            the audit Merkle tree, checkpoints and signing key (projections/auditlog)
//	<data-dir>/snapshots/        channel snapshots, checked against the log before use (eventstore.FileSnapshots)
//	<data-dir>/principals.json   API principals (token hashes only), unless --principals says otherwise
//	<data-dir>/verification/     TOTP enrolments (sealed), used codes and lockouts, unless --verification-dir says otherwise
//	<data-dir>/demo-tokens.txt   tokens written by `freezeledger demo` (a demo directory only)

// StoreDir is where the embedded store lives in dataDir.
func StoreDir(dataDir string) string { return filepath.Join(dataDir, "store") }

// ProjectionsDir is where the read models checkpoint in dataDir.
func ProjectionsDir(dataDir string) string { return filepath.Join(dataDir, "projections") }

// AuditDir is where the audit tree and its key live in dataDir.
func AuditDir(dataDir string) string { return filepath.Join(dataDir, "audit") }

// VerificationDir is the default directory of the TOTP enrolments, used codes and lockouts (rule 19).
func VerificationDir(dataDir string) string { return filepath.Join(dataDir, "verification") }

// PrincipalsFile is the default principals file of dataDir.
func PrincipalsFile(dataDir string) string { return filepath.Join(dataDir, "principals.json") }

// DemoTokensFile is where `freezeledger demo` writes the demo principals' tokens.
func DemoTokensFile(dataDir string) string { return filepath.Join(dataDir, "demo-tokens.txt") }

// SnapshotsDir is where serve keeps channel snapshots in dataDir.
func SnapshotsDir(dataDir string) string { return filepath.Join(dataDir, "snapshots") }

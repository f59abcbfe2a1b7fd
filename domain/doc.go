// Package domain is freezeledger's heart: the parties, events and rules of account freezing in a
// partner resale model (docs/RULES.md), the channel aggregate that enforces the rules
// (aggregate.go lists them and says which file holds each part), the command service that turns
// commands into appended events (Service, service.go), and the history validator that checks a whole
// log against the rules (HistoryValidator, reused by the auditors' offline verifier). It imports only
// the standard library, google/uuid and internal/jsonwire (itself standard library only); storage is
// reached through the EventLog port (ports.go), adapted by package eventstore.
//
// Streams: one channel stream per distributor or solution provider (ChannelStream) and one
// reservation stream per partner or customer ID (ReservationStream). docs/ARCHITECTURE.md
// ("Consistency boundaries") explains why this makes every rule strict with expected revisions alone.
package domain

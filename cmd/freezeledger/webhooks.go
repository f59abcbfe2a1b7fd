package main

import (
	"context"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/httpapi"
	"github.com/freezeledger/freezeledger/httpapi/webhook"
)

// WebhooksDir is where webhook registrations, their secrets (0600) and delivery cursors live in
// dataDir: outside the event log, which is exported to auditors.
func WebhooksDir(dataDir string) string { return filepath.Join(dataDir, "webhooks") }

// FeedConfig adjusts the change feed and the webhook deliveries beyond what flags set (tests).
// The zero value is the production behaviour.
type FeedConfig struct {
	// Heartbeat is the SSE comment interval (default 15 s).
	Heartbeat time.Duration
	// Clock and Sleep time the webhook retries and the 24 h disabling (default: the wall clock).
	Clock domain.Clock
	Sleep func(ctx context.Context, d time.Duration) error
	// PersistEvery is how long a delivered item's cursor may stay unsaved (default 1 s).
	PersistEvery time.Duration
	// Timeout bounds one delivery attempt (default 10 s).
	Timeout time.Duration
	// OnDisable is called when a webhook is disabled (webhook.Options.OnDisable).
	OnDisable func(id, reason string)
}

// openWebhooks opens the webhook registrations of the data directory; l.reads feeds them.
func (m *Main) openWebhooks(l *ledger, log hclog.Logger) error {
	hooks, err := webhook.Open(webhook.Options{
		Dir: WebhooksDir(m.cfg.dataDir), Feed: l.reads, Logger: log.Named("webhooks"),
		Clock: m.Feed.Clock, Sleep: m.Feed.Sleep, AllowInsecureLoopback: m.cfg.webhookLoopback,
		Timeout: m.Feed.Timeout, PersistEvery: m.Feed.PersistEvery, OnDisable: m.Feed.OnDisable,
	})
	if err != nil {
		return err
	}
	l.hooks = hooks
	return nil
}

// feedOptions is the API's change feed and webhook configuration; streams end when done closes
// (the server's shutdown), so that they do not hold it up.
func (m *Main) feedOptions(l *ledger, done <-chan struct{}) httpapi.FeedOptions {
	o := httpapi.FeedOptions{Heartbeat: m.Feed.Heartbeat, Done: done}
	if l.hooks != nil {
		o.Webhooks = l.hooks
	}
	return o
}

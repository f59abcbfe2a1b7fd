package domain

// RememberedKeysForTest is how many idempotency keys stream's channel remembers (loading it if
// needed), and how many platform keys the Service does.
func RememberedKeysForTest(s *Service, stream string) (channel, platform int) {
	_ = s.query(stream, func(c *Channel) { channel = c.rememberedKeys() })
	s.mu.Lock()
	defer s.mu.Unlock()
	return channel, len(s.platformKeys.keys)
}

// SettleForTest waits until every control request queued so far (evictions, snapshots) has run:
// it queues a no-op control request behind them in every worker and waits for each.
func SettleForTest(s *Service) {
	s.mu.Lock()
	ws := make([]*worker, 0, len(s.workers))
	for _, w := range s.workers {
		ws = append(ws, w)
	}
	s.mu.Unlock()
	for _, w := range ws {
		r := &request{control: func(*worker) {}}
		s.submit(w, r)
		<-r.done
	}
}

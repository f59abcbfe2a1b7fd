package domain

// RememberedKeysForTest is how many idempotency keys stream's channel remembers (loading it if
// needed), and how many platform keys the Service does.
func RememberedKeysForTest(s *Service, stream string) (channel, platform int) {
	_ = s.query(stream, func(c *Channel) { channel = c.rememberedKeys() })
	s.mu.Lock()
	defer s.mu.Unlock()
	return channel, len(s.platformKeys.keys)
}

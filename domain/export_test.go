package domain

// QueuedForTest is how many requests wait in stream's worker queue.
func QueuedForTest(s *Service, stream string) int {
	w := s.worker(stream)
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.queue)
}

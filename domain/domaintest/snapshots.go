package domaintest

import (
	"context"
	"sync"
)

// MemorySnapshots is an in-memory domain.SnapshotStore that counts loads and saves and lets a test
// change what is stored. It is safe for concurrent use.
type MemorySnapshots struct {
	mu           sync.Mutex
	snaps        map[string][]byte
	loads, saves int
}

// NewMemorySnapshots returns an empty store.
func NewMemorySnapshots() *MemorySnapshots { return &MemorySnapshots{snaps: map[string][]byte{}} }

// LoadSnapshot implements domain.SnapshotStore.
func (m *MemorySnapshots) LoadSnapshot(ctx context.Context, stream string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.loads++
	b, ok := m.snaps[stream]
	if !ok {
		return nil, nil
	}
	return append([]byte(nil), b...), nil
}

// SaveSnapshot implements domain.SnapshotStore.
func (m *MemorySnapshots) SaveSnapshot(ctx context.Context, stream string, b []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.saves++
	m.snaps[stream] = append([]byte(nil), b...)
	return nil
}

// Get returns a copy of stream's snapshot (nil: none).
func (m *MemorySnapshots) Get(stream string) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	if b, ok := m.snaps[stream]; ok {
		return append([]byte(nil), b...)
	}
	return nil
}

// Put replaces stream's snapshot by b, as a damaged or foreign store would.
func (m *MemorySnapshots) Put(stream string, b []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.snaps[stream] = append([]byte(nil), b...)
}

// Counts returns how many loads and saves the store served.
func (m *MemorySnapshots) Counts() (loads, saves int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.loads, m.saves
}

package embedded_test

import (
	"testing"

	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/eventstore/embedded"
	"github.com/freezeledger/freezeledger/eventstore/storetest"
)

// factory makes stores in temporary directories. Durable unless unsafe: the conformance run is
// durable (it is what ships), the heavier tests elsewhere may skip fsync.
func factory(unsafeNoSync bool) storetest.Factory {
	open := func(t *testing.T, dir string) eventstore.Store {
		t.Helper()
		s, err := embedded.Open(dir, embedded.Options{UnsafeNoSync: unsafeNoSync})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	dirs := map[eventstore.Store]string{}
	return storetest.Factory{
		New: func(t *testing.T) eventstore.Store {
			dir := t.TempDir()
			s := open(t, dir)
			dirs[s] = dir
			return s
		},
		Reopen: func(t *testing.T, s eventstore.Store) eventstore.Store {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s2 := open(t, dirs[s])
			dirs[s2] = dirs[s]
			return s2
		},
	}
}

func TestConformance(t *testing.T) {
	storetest.Run(t, factory(false))
}

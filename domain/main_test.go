package domain_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind (channel workers exit when their
// queue is empty).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

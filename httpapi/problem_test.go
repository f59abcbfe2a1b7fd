package httpapi

import (
	"errors"
	"fmt"
	"testing"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/projections/auditlog"
)

// The audit log's and the store's errors without a domain code are mapped here, wrapped or not, with
// their message as the detail; an error that already carries a domain code keeps it.
func TestProblemOfAuditLogErrors(t *testing.T) {
	for _, tc := range []struct {
		err    error
		code   domain.Code
		status int
	}{
		{fmt.Errorf("%w: tree size 9 > current size 3", auditlog.ErrSize), domain.CodeInvalid, 400},
		{fmt.Errorf("from: %w", fmt.Errorf("%w: range bound %q is neither", auditlog.ErrInvalid, "x")), domain.CodeInvalid, 400},
		{fmt.Errorf("%w: %w", auditlog.ErrSize, domain.Errorf(domain.CodeUnavailable, "not yet")), domain.CodeUnavailable, 503},
		{fmt.Errorf("read all after 7/7: %w", eventstore.ErrInvalidPosition), domain.CodeInvalid, 400},
		{errors.New("beyond the tree"), CodeInternal, 500}, // the same words are not the error
	} {
		p := problemOf(tc.err)
		if p.Code != tc.code || p.Status != tc.status {
			t.Errorf("problemOf(%q) = %s %d, want %s %d", tc.err, p.Code, p.Status, tc.code, tc.status)
		}
		if tc.code == domain.CodeInvalid && p.Detail != tc.err.Error() {
			t.Errorf("problemOf(%q).Detail = %q, want the error's message", tc.err, p.Detail)
		}
	}
}

package httpapi

import (
	"context"
	"io"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/eventstore"
	"github.com/freezeledger/freezeledger/projections"
	"github.com/freezeledger/freezeledger/projections/auditlog/leaf"
)

// Ledger is the write side the API needs: *domain.Service satisfies it. Refusals are *domain.Error.
type Ledger interface {
	RegisterPartner(ctx context.Context, cmd domain.RegisterPartner) (domain.Result, error)
	AssociateCustomer(ctx context.Context, cmd domain.AssociateCustomer) (domain.Result, error)
	FreezeCustomer(ctx context.Context, cmd domain.FreezeCustomer) (domain.Result, error)
	UnfreezeCustomer(ctx context.Context, cmd domain.UnfreezeCustomer) (domain.Result, error)
	FreezeCustomers(ctx context.Context, cmd domain.FreezeCustomers) (domain.BatchResult, error)
	UnfreezeCustomers(ctx context.Context, cmd domain.UnfreezeCustomers) (domain.BatchResult, error)
	FreezePartner(ctx context.Context, cmd domain.FreezePartner) (domain.Result, error)
	UnfreezePartner(ctx context.Context, cmd domain.UnfreezePartner) (domain.Result, error)
	SetDelegation(ctx context.Context, cmd domain.SetDelegation) (domain.Result, error)
	// Rules 19 and 20.
	SetVerification(ctx context.Context, cmd domain.SetVerification) (domain.Result, error)
	RequestDisassociation(ctx context.Context, cmd domain.RequestDisassociation) (domain.Result, error)
	AnswerDisassociation(ctx context.Context, cmd domain.AnswerDisassociation) (domain.Result, error)
}

// ReadModels is the read side the API needs; *projections.ReadModels satisfies it. Errors with a
// domain code (not_found, invalid for a bad cursor, unavailable) are shown with that code.
type ReadModels interface {
	// WaitFor returns once the read models have applied pos, or ctx's error.
	WaitFor(ctx context.Context, pos eventstore.Position) error
	// Events is the number of events applied (so the audit tree size that covers them).
	Events() uint64
	// Head is the store's head position.
	Head(ctx context.Context) (eventstore.Position, error)
	// Ready reports whether the read models have caught up with the store (nil when they have).
	Ready(ctx context.Context) error
	Status(id string, a projections.AsOf) (projections.CustomerStatus, error)
	Operations(id string, q projections.OperationsQuery) (projections.Operations, error)
	CheckOperation(id, op string, q projections.OperationsQuery) (projections.OperationCheck, error)
	Partner(id string, a projections.AsOf) (projections.PartnerStatus, error)
	SearchCustomers(f projections.SearchFilter) ([]projections.CustomerStatus, string, error)
	History(ctx context.Context, q projections.HistoryQuery) (projections.HistoryPage, error)
	// Compliance queries.
	ListPartners(f projections.PartnerFilter) ([]projections.PartnerStatus, string, error)
	Timeline(id string) (projections.Timeline, error)
	AuditEvents(ctx context.Context, q projections.AuditQuery) (projections.AuditPage, error)
}

// Audit is the verifiable log the API serves; *auditlog.EventSource (package projections/auditlog) satisfies it.
type Audit interface {
	// Events calls fn for up to limit events strictly after position after, in log order, until fn
	// returns an error. limit <= 0 means no limit.
	Events(ctx context.Context, after eventstore.Position, limit int, fn func(leaf.Event) error) error
	// Export writes the events in the range as format ("jsonl" or "csv") to w. from and to are
	// times (RFC 3339) or positions, "" for open ends.
	Export(ctx context.Context, w io.Writer, format, from, to string) error
	// Checkpoint is the latest signed checkpoint (a signed note); with witnesses, the witnessed
	// checkpoint, their cosignatures as extra signature lines (docs/AUDIT.md, "Witnesses").
	Checkpoint(ctx context.Context) ([]byte, error)
	// WaitCheckpoint returns the first signed checkpoint covering at least size events, or ctx's
	// error; with witnesses, with the cosignatures they give it before ctx is done.
	WaitCheckpoint(ctx context.Context, size uint64) ([]byte, error)
	InclusionProof(index, treeSize uint64) ([][]byte, error)
	ConsistencyProof(first, second uint64) ([][]byte, error)
	// PublicKey is the verifier key of the checkpoint signatures (a note verifier key string).
	PublicKey() string
}

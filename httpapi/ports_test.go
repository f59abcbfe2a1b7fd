package httpapi

import (
	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/projections"
	"github.com/freezeledger/freezeledger/projections/auditlog"
)

// The packages behind the ports satisfy them, as their doc comments say.
var (
	_ Ledger     = (*domain.Service)(nil)
	_ ReadModels = (*projections.ReadModels)(nil)
	_ Audit      = (*auditlog.EventSource)(nil)
)

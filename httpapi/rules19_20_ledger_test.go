package httpapi

import (
	"context"

	"github.com/freezeledger/freezeledger/domain"
)

// failingLedger's rule 19 and 20 commands fail like the others.

func (l failingLedger) SetVerification(context.Context, domain.SetVerification) (domain.Result, error) {
	return domain.Result{}, l.fail()
}

func (l failingLedger) RequestDisassociation(context.Context, domain.RequestDisassociation) (domain.Result, error) {
	return domain.Result{}, l.fail()
}

func (l failingLedger) AnswerDisassociation(context.Context, domain.AnswerDisassociation) (domain.Result, error) {
	return domain.Result{}, l.fail()
}

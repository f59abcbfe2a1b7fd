package httpapi

// The budget routes (rules 14 to 18): a customer's budget (set, remove, read, its adjustment
// record), budgets in batches, and a reseller's quotas.

import (
	"net/http"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/projections"
)

type budgetRequest struct {
	Type         string  `json:"type"`
	Amount       *string `json:"amount"`
	OnExhaustion string  `json:"on_exhaustion"`
	Unfreeze     bool    `json:"unfreeze"`
	Reason       *string `json:"reason"`
}

// spec checks the budget's fields (money as ParseMoney, naming amount) and returns it.
func budgetSpec(typ string, amount *string, policy string) (domain.BudgetSpec, error) {
	var spec domain.BudgetSpec
	switch domain.BudgetType(typ) {
	case domain.BudgetMonthly, domain.BudgetOneTime:
	default:
		return spec, errorf(domain.CodeInvalid, "type must be monthly or one_time")
	}
	switch domain.Exhaustion(policy) {
	case domain.ExhaustionFreeze, domain.ExhaustionAlert:
	default:
		return spec, errorf(domain.CodeInvalid, "on_exhaustion must be freeze or alert")
	}
	if amount == nil {
		return spec, errorf(domain.CodeInvalid, "amount is required (a decimal string such as \"1000.00\")")
	}
	m, err := domain.ParseMoney("amount", *amount)
	if err != nil {
		return spec, err
	}
	if m == 0 {
		return spec, errorf(domain.CodeInvalid, "amount must be more than 0")
	}
	return domain.BudgetSpec{Type: domain.BudgetType(typ), Amount: m, OnExhaustion: domain.Exhaustion(policy)}, nil
}

func (q budgetRequest) check() error {
	if _, err := budgetSpec(q.Type, q.Amount, q.OnExhaustion); err != nil {
		return err
	}
	if q.Unfreeze && q.Reason == nil {
		return errorf(domain.CodeInvalid, "reason is required with unfreeze (rule 4)")
	}
	if !q.Unfreeze && q.Reason != nil {
		return errorf(domain.CodeInvalid, "reason is only taken with unfreeze: true")
	}
	if q.Reason != nil {
		return checkReason(*q.Reason)
	}
	return nil
}

type batchBudgetRequest struct {
	CustomerIDs  []string `json:"customer_ids"`
	Type         string   `json:"type"`
	Amount       *string  `json:"amount"`
	OnExhaustion string   `json:"on_exhaustion"`
}

func (q batchBudgetRequest) check() error {
	if err := checkBatch(q.CustomerIDs); err != nil {
		return err
	}
	_, err := budgetSpec(q.Type, q.Amount, q.OnExhaustion)
	return err
}

type quotaRequest struct {
	MonthlyQuota *string `json:"monthly_quota"`
	OneTimeQuota *string `json:"one_time_quota"`
}

func (q quotaRequest) check() error {
	for _, f := range []struct {
		name string
		v    *string
	}{{"monthly_quota", q.MonthlyQuota}, {"one_time_quota", q.OneTimeQuota}} {
		if f.v == nil {
			return errorf(domain.CodeInvalid, "%s is required (a decimal string such as \"1000.00\")", f.name)
		}
		if _, err := domain.ParseMoney(f.name, *f.v); err != nil {
			return err
		}
	}
	return nil
}

type budgetWriteResponse struct {
	Budget   *projections.BudgetInfo    `json:"budget"`
	Customer projections.CustomerStatus `json:"customer"`
	Position string                     `json:"position"`
}

type budgetBatchItem struct {
	CustomerID string                  `json:"customer_id"`
	OK         bool                    `json:"ok"`
	Budget     *projections.BudgetInfo `json:"budget,omitempty"`
	Error      *Problem                `json:"error,omitempty"`
}

type budgetBatchResponse struct {
	Results  []budgetBatchItem `json:"results"`
	Position *string           `json:"position"`
}

type quotaWriteResponse struct {
	Quota    projections.QuotaInfo `json:"quota"`
	Position string                `json:"position"`
}

// PUT /v1/customers/{id}/budget
func (s *Server) putBudget(w http.ResponseWriter, r *http.Request, p Principal) error {
	id, req, m, err := customerWrite[budgetRequest](s, w, r, p)
	if err != nil {
		return err
	}
	l, err := s.billingLedger()
	if err != nil {
		return err
	}
	spec, _ := budgetSpec(req.Type, req.Amount, req.OnExhaustion)
	reason := ""
	if req.Reason != nil {
		reason = *req.Reason
	}
	res, err := l.SetBudget(r.Context(), domain.SetBudget{Meta: m, CustomerID: id, Budget: spec, Unfreeze: req.Unfreeze, Reason: reason})
	if err != nil {
		return s.hideCustomer(r.Context(), p, id, err)
	}
	return s.respondBudget(w, r, id, res.Position)
}

// DELETE /v1/customers/{id}/budget
func (s *Server) deleteBudget(w http.ResponseWriter, r *http.Request, p Principal) error {
	id, err := pathID(r, "customer")
	if err != nil {
		return err
	}
	if _, err := parseQuery(r); err != nil {
		return err
	}
	m, err := s.customerWriteMeta(r, p, id)
	if err != nil {
		return err
	}
	l, err := s.billingLedger()
	if err != nil {
		return err
	}
	res, err := l.RemoveBudget(r.Context(), domain.RemoveBudget{Meta: m, CustomerID: id})
	if err != nil {
		return s.hideCustomer(r.Context(), p, id, err)
	}
	return s.respondCustomer(w, r, id, res.Position, http.StatusOK)
}

func (s *Server) respondBudget(w http.ResponseWriter, r *http.Request, id, pos string) error {
	c, err := s.statusAfter(w, r, id, pos)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, budgetWriteResponse{Budget: c.Budget, Customer: c, Position: pos})
	return nil
}

// PUT /v1/customers/budget
func (s *Server) batchBudget(w http.ResponseWriter, r *http.Request, p Principal) error {
	req, m, err := decodeWrite[batchBudgetRequest](w, r, p)
	if err != nil {
		return err
	}
	l, err := s.billingLedger()
	if err != nil {
		return err
	}
	spec, _ := budgetSpec(req.Type, req.Amount, req.OnExhaustion)
	res, err := l.SetBudgets(r.Context(), domain.SetBudgets{Meta: m, CustomerIDs: req.CustomerIDs, Budget: spec})
	if err != nil {
		return err
	}
	out := budgetBatchResponse{Results: make([]budgetBatchItem, len(res.Items)), Position: optString(res.Position)}
	err = s.batchOutcomes(w, r, p, res, func(i int, c *projections.CustomerStatus, pr *Problem) {
		item := budgetBatchItem{CustomerID: res.Items[i].CustomerID, OK: c != nil, Error: pr}
		if c != nil {
			item.Budget = c.Budget
		}
		out.Results[i] = item
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// GET /v1/customers/{id}/budget
func (s *Server) getBudget(w http.ResponseWriter, r *http.Request, p Principal) error {
	id, q, err := s.customerRead(r, p, "as_of")
	if err != nil {
		return err
	}
	_, at, err := s.readableCustomer(r, p, id, q["as_of"])
	if err != nil {
		return err
	}
	br, err := s.billingReads()
	if err != nil {
		return err
	}
	b, err := br.Budget(id, at)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, b)
	return nil
}

// GET /v1/customers/{id}/budget/history
func (s *Server) getBudgetHistory(w http.ResponseWriter, r *http.Request, p Principal) error {
	id, cursor, limit, err := s.customerHistoryRead(r, p)
	if err != nil {
		return err
	}
	br, err := s.billingReads()
	if err != nil {
		return err
	}
	page, err := br.BudgetHistory(r.Context(), id, cursor, limit)
	if err != nil {
		return err
	}
	writeHistory(w, page)
	return nil
}

// PUT /v1/partners/{id}/quota
func (s *Server) putQuota(w http.ResponseWriter, r *http.Request, p Principal) error {
	id, err := pathID(r, "partner")
	if err != nil {
		return err
	}
	req, err := decodeBody[quotaRequest](w, r)
	if err != nil {
		return err
	}
	if _, err := s.readablePartner(r, p, id); err != nil {
		return err
	}
	m, err := meta(r, p)
	if err != nil {
		return err
	}
	l, err := s.billingLedger()
	if err != nil {
		return err
	}
	monthly, _ := domain.ParseMoney("monthly_quota", *req.MonthlyQuota)
	oneTime, _ := domain.ParseMoney("one_time_quota", *req.OneTimeQuota)
	res, err := l.SetQuota(r.Context(), domain.SetQuota{Meta: m, ResellerID: id, Monthly: monthly, OneTime: oneTime})
	if err != nil {
		return s.hidePartner(r.Context(), p, id, err)
	}
	if err := s.settle(w, r, res.Position); err != nil {
		return err
	}
	br, err := s.billingReads()
	if err != nil {
		return err
	}
	qi, err := br.Quota(id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, quotaWriteResponse{Quota: qi, Position: res.Position})
	return nil
}

// GET /v1/partners/{id}/quota
func (s *Server) getQuota(w http.ResponseWriter, r *http.Request, p Principal) error {
	id, err := pathID(r, "partner")
	if err != nil {
		return err
	}
	q, err := parseQuery(r, "min_position")
	if err != nil {
		return err
	}
	if err := s.waitMin(r.Context(), q); err != nil {
		return err
	}
	pt, err := s.readablePartner(r, p, id)
	if err != nil {
		return err
	}
	if pt.Type != string(domain.PartnerReseller) {
		return errorf(domain.CodeNotFound, "partner %q is not a reseller: only resellers have quotas (rule 18)", id)
	}
	br, err := s.billingReads()
	if err != nil {
		return err
	}
	qi, err := br.Quota(id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, qi)
	return nil
}

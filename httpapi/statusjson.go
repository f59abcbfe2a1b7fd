package httpapi

import (
	"encoding/json"
	"strconv"

	"github.com/freezeledger/freezeledger/internal/jsonwire"
	"github.com/freezeledger/freezeledger/projections"
)

// appendStatus appends the JSON of a customer status to dst: the same bytes json.Marshal writes
// (field order, null for nil pointers and slices, HTML-safe escaping), without reflection, because
// the status is the API's hottest answer. TestAppendStatusMatchesMarshal keeps the two equal.
func appendStatus(dst []byte, s *projections.CustomerStatus) []byte {
	dst = append(dst, `{"customer_id":`...)
	dst = appendJSONString(dst, s.CustomerID)
	dst = append(dst, `,"name":`...)
	dst = appendJSONString(dst, s.Name)
	dst = append(dst, `,"partner_id":`...)
	dst = appendJSONString(dst, s.PartnerID)
	dst = append(dst, `,"distributor_id":`...)
	dst = appendJSONString(dst, s.DistributorID)
	dst = append(dst, `,"managed_by":`...)
	dst = appendJSONString(dst, s.ManagedBy)
	dst = append(dst, `,"state":`...)
	dst = appendJSONString(dst, s.State)
	dst = append(dst, `,"freeze_type":`...)
	dst = appendJSONStringPtr(dst, s.FreezeType)
	dst = append(dst, `,"origin":`...)
	dst = appendJSONStringPtr(dst, s.Origin)
	dst = append(dst, `,"reason":`...)
	dst = appendJSONStringPtr(dst, s.Reason)
	dst = append(dst, `,"frozen_by":`...)
	dst = appendJSONStringPtr(dst, s.FrozenBy)
	dst = append(dst, `,"frozen_at":`...)
	dst = appendJSONStringPtr(dst, s.FrozenAt)
	dst = append(dst, `,"effective_state":`...)
	dst = appendJSONString(dst, s.EffectiveState)
	dst = append(dst, `,"effective_freeze_type":`...)
	dst = appendJSONStringPtr(dst, s.EffectiveFreezeType)
	dst = append(dst, `,"effective_origin":`...)
	dst = appendJSONStringPtr(dst, s.EffectiveOrigin)
	if s.ResourcesReleased {
		dst = append(dst, `,"resources_released":true`...)
	} else {
		dst = append(dst, `,"resources_released":false`...)
	}
	dst = append(dst, `,"retention_deadline":`...)
	dst = appendJSONStringPtr(dst, s.RetentionDeadline)
	dst = append(dst, `,"tags":`...)
	if s.Tags == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i, t := range s.Tags {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, t)
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `,"account_manager":`...)
	dst = appendJSONString(dst, s.AccountManager)
	dst = append(dst, `,"associated_at":`...)
	dst = appendJSONString(dst, s.AssociatedAt)
	dst = append(dst, `,"position":`...)
	dst = appendJSONString(dst, s.Position)
	dst = append(dst, `,"currency":`...)
	dst = appendJSONString(dst, s.Currency)
	dst = append(dst, `,"mtd_spend":`...)
	dst = appendJSONString(dst, s.MTDSpend)
	dst = append(dst, `,"budget":`...)
	dst = appendBudget(dst, s.Budget)
	dst = append(dst, `,"resources":`...)
	dst = strconv.AppendInt(dst, int64(s.Resources), 10)
	dst = append(dst, `,"earliest_expiry":`...)
	dst = appendJSONStringPtr(dst, s.EarliestExpiry)
	dst = appendPersonal(append(dst, `,"personal":`...), s.Personal)
	if s.PersonalDataErased {
		dst = append(dst, `,"personal_data_erased":true`...)
	} else {
		dst = append(dst, `,"personal_data_erased":false`...)
	}
	dst = appendAssociation(dst, s)
	return append(dst, '}')
}

// appendPersonal appends rule 21's personal object (or null) as json.Marshal writes it.
func appendPersonal(dst []byte, p *projections.PersonalData) []byte {
	if p == nil {
		return append(dst, "null"...)
	}
	dst = appendJSONStringPtr(append(dst, `{"account_name":`...), p.AccountName)
	dst = appendJSONStringPtr(append(dst, `,"mobile":`...), p.Mobile)
	dst = appendJSONStringPtr(append(dst, `,"email":`...), p.Email)
	dst = appendJSONStringPtr(append(dst, `,"contact_name":`...), p.ContactName)
	return append(dst, '}')
}

// appendBudget appends a status's budget as json.Marshal writes it (null for none).
func appendBudget(dst []byte, b *projections.BudgetInfo) []byte {
	if b == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, `{"type":`...)
	dst = appendJSONString(dst, b.Type)
	dst = append(dst, `,"amount":`...)
	dst = appendJSONString(dst, b.Amount)
	dst = append(dst, `,"on_exhaustion":`...)
	dst = appendJSONString(dst, b.OnExhaustion)
	dst = append(dst, `,"set_at":`...)
	dst = appendJSONString(dst, b.SetAt)
	dst = append(dst, `,"set_by":`...)
	dst = appendJSONString(dst, b.SetBy)
	dst = append(dst, `,"period":`...)
	dst = appendJSONStringPtr(dst, b.Period)
	dst = append(dst, `,"counted_spend":`...)
	dst = appendJSONString(dst, b.CountedSpend)
	dst = append(dst, `,"usage_percent":`...)
	dst = appendJSONString(dst, b.UsagePercent)
	dst = append(dst, `,"thresholds_reached":`...)
	if b.ThresholdsReached == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i, t := range b.ThresholdsReached {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = strconv.AppendInt(dst, int64(t), 10)
		}
		dst = append(dst, ']')
	}
	if b.Exhausted {
		return append(dst, `,"exhausted":true}`...)
	}
	return append(dst, `,"exhausted":false}`...)
}

// appendAssociation appends the rule 20 members: associated, and the disassociation (rare: through
// encoding/json).
func appendAssociation(dst []byte, s *projections.CustomerStatus) []byte {
	if s.Associated {
		dst = append(dst, `,"associated":true`...)
	} else {
		dst = append(dst, `,"associated":false`...)
	}
	dst = append(dst, `,"disassociation":`...)
	if s.Disassociation == nil {
		return append(dst, "null"...)
	}
	b, err := json.Marshal(s.Disassociation)
	if err != nil { // plain strings and pointers to strings: never
		return append(dst, "null"...)
	}
	return append(dst, b...)
}

func appendJSONStringPtr(dst []byte, s *string) []byte {
	if s == nil {
		return append(dst, "null"...)
	}
	return appendJSONString(dst, *s)
}

// appendJSONString appends s as a JSON string escaped as encoding/json does by default: '"' and '\'
// backslashed, \n \r \t \b \f short, other control characters and '<' '>' '&' as \u00XX, U+2028 and U+2029
// as \u2028 and \u2029, invalid UTF-8 as \ufffd (jsonwire.HTMLSafe).
func appendJSONString(dst []byte, s string) []byte {
	return jsonwire.AppendString(dst, s, jsonwire.HTMLSafe)
}

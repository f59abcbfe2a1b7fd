package httpapi

import (
	"encoding/json"
	"unicode/utf8"

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
	dst = appendAssociation(dst, s)
	return append(dst, '}')
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

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string escaped as encoding/json does by default: '"' and '\'
// backslashed, \n \r \t \b \f short, other control characters and '<' '>' '&' as \u00XX, U+2028 and U+2029
// as \u2028 and \u2029, invalid UTF-8 as \ufffd.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

package httpapi

// The verification-code routes (rule 19): a principal's own TOTP enrolment and its confirmation,
// and a partner admin's switch. Secrets appear only in the enrolment's answer (never logged: the
// API logs no bodies).

import (
	"errors"
	"net/http"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/httpapi/verification"
)

type enrolResponse struct {
	Secret     string `json:"secret"`
	OtpauthURI string `json:"otpauth_uri"`
}

type confirmRequest struct {
	Code string `json:"code"`
}

func (q confirmRequest) check() error {
	if len(q.Code) != verification.Digits {
		return errorf(domain.CodeInvalid, "code must be the %d digits the authenticator shows", verification.Digits)
	}
	return nil
}

type verificationRequest struct {
	Enabled *bool `json:"enabled"`
}

func (q verificationRequest) check() error {
	if q.Enabled == nil {
		return errorf(domain.CodeInvalid, "enabled (a boolean) is required")
	}
	return nil
}

type verificationResponse struct {
	Verification struct {
		Enabled bool `json:"enabled"`
	} `json:"verification"`
	Position string `json:"position"`
}

func (s *Server) verificationStore() (*verification.Store, error) {
	if s.verify == nil {
		return nil, errorf(domain.CodeUnavailable, "verification codes are not configured on this server")
	}
	return s.verify, nil
}

// POST /v1/principals/self/totp
func (s *Server) enrolTOTP(w http.ResponseWriter, r *http.Request, p Principal) error {
	if _, err := parseQuery(r); err != nil {
		return err
	}
	if b, err := readBody(w, r); err != nil {
		return err
	} else if len(b) > 0 && string(b) != "{}" {
		return errorf(domain.CodeInvalid, "this route takes no body (or {}); a replacement's code goes in %s", HeaderVerificationCode)
	}
	store, err := s.verificationStore()
	if err != nil {
		return err
	}
	vs := r.Header[HeaderVerificationCode]
	if len(vs) > 1 {
		return errorf(domain.CodeInvalid, "%s is given %d times", HeaderVerificationCode, len(vs))
	}
	code := ""
	if len(vs) == 1 {
		code = vs[0]
	}
	e, err := store.Enrol(p.Name, code)
	if err != nil {
		return s.codeError(r, err)
	}
	writeJSON(w, http.StatusOK, enrolResponse{Secret: e.Secret, OtpauthURI: e.URI})
	return nil
}

// POST /v1/principals/self/totp/confirm
func (s *Server) confirmTOTP(w http.ResponseWriter, r *http.Request, p Principal) error {
	req, err := decodeBody[confirmRequest](w, r)
	if err != nil {
		return err
	}
	store, err := s.verificationStore()
	if err != nil {
		return err
	}
	if err := store.Confirm(p.Name, req.Code); err != nil {
		if errors.Is(err, verification.ErrNoPending) {
			return errorf(domain.CodeConflict, "%v", err)
		}
		return s.codeError(r, err)
	}
	writeJSON(w, http.StatusOK, map[string]string{"totp": "active"})
	return nil
}

// PUT /v1/partners/{id}/verification
func (s *Server) putVerification(w http.ResponseWriter, r *http.Request, p Principal) error {
	id, req, m, err := partnerWrite[verificationRequest](s, w, r, p, true)
	if err != nil {
		return err
	}
	res, err := s.ledger.SetVerification(r.Context(), domain.SetVerification{Meta: m, PartnerID: id, Enabled: *req.Enabled})
	if err != nil {
		return s.hidePartner(r.Context(), p, id, err)
	}
	if err := s.settle(w, r, res.Position); err != nil {
		return err
	}
	var out verificationResponse
	out.Verification.Enabled, out.Position = *req.Enabled, res.Position
	writeJSON(w, http.StatusOK, out)
	return nil
}

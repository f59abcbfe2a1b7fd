package httpapi

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/freezeledger/freezeledger/domain"
	"github.com/freezeledger/freezeledger/httpapi/webhook"
)

// Webhooks manages webhook registrations; *webhook.Manager satisfies it. Errors are *domain.Error
// (invalid, not_found, conflict) or internal.
type Webhooks interface {
	// Create's key is the request's Idempotency-Key ("" for none): a retry with the same key and
	// body returns the first webhook and secret and registers nothing.
	Create(owner webhook.Owner, url, description, key string) (webhook.Webhook, string, error)
	List(owner string) []webhook.Webhook
	Get(owner, id string) (webhook.Webhook, error)
	Delete(owner, id string) error
	Enable(owner, id string) (webhook.Webhook, error)
}

type createWebhookRequest struct {
	URL         string `json:"url"`
	Description string `json:"description"`
}

func (q createWebhookRequest) check() error {
	if q.URL == "" {
		return errorf(domain.CodeInvalid, "url is required")
	}
	return nil
}

type createWebhookResponse struct {
	Webhook webhook.Webhook `json:"webhook"`
	Secret  string          `json:"secret"`
}

type webhooksResponse struct {
	Webhooks []webhook.Webhook `json:"webhooks"`
}

type webhookResponse struct {
	Webhook webhook.Webhook `json:"webhook"`
}

// webhookOwner is who owns p's webhooks: partner, reader and platform principals may register
// them (auditors export; they do not subscribe), each seeing its own only.
func (s *Server) webhookOwner(p Principal) (webhook.Owner, error) {
	if s.feed.Webhooks == nil {
		return webhook.Owner{}, errorf(domain.CodeUnavailable, "webhooks are not available on this server")
	}
	switch p.Role {
	case domain.RolePartner, domain.RoleReader, domain.RolePlatform:
		return webhook.Owner{Name: p.Name, Scope: p.scope()}, nil
	}
	return webhook.Owner{}, errorf(domain.CodeForbidden, "role %s may not register webhooks; partner, reader and platform principals may", p.Role)
}

// webhookID is the path's webhook ID; malformed IDs are simply not found.
func webhookID(r *http.Request) string { return mux.Vars(r)["id"] }

// POST /v1/webhooks. A retry with the same Idempotency-Key and body answers the first
// registration again, the same 201 with the same secret (to the same principal only: keys are
// per principal).
func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request, p Principal) error {
	owner, err := s.webhookOwner(p)
	if err != nil {
		return err
	}
	req, m, err := decodeWrite[createWebhookRequest](w, r, p)
	if err != nil {
		return err
	}
	hook, secret, err := s.feed.Webhooks.Create(owner, req.URL, req.Description, m.IdempotencyKey)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/webhooks/"+hook.ID)
	writeJSON(w, http.StatusCreated, createWebhookResponse{Webhook: hook, Secret: secret})
	return nil
}

// GET /v1/webhooks
func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request, p Principal) error {
	if _, err := parseQuery(r); err != nil {
		return err
	}
	owner, err := s.webhookOwner(p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, webhooksResponse{Webhooks: s.feed.Webhooks.List(owner.Name)})
	return nil
}

// ownWebhook answers for a webhook route with an ID: a caller without webhooks (or another
// principal's ID) gets not_found.
func (s *Server) ownWebhook(r *http.Request, p Principal) (webhook.Owner, string, error) {
	if _, err := parseQuery(r); err != nil {
		return webhook.Owner{}, "", err
	}
	id := webhookID(r)
	owner, err := s.webhookOwner(p)
	if domain.ErrorCode(err) == domain.CodeForbidden {
		return owner, id, errorf(domain.CodeNotFound, "webhook %q not found", clip(id))
	}
	return owner, id, err
}

// GET /v1/webhooks/{id}
func (s *Server) getWebhook(w http.ResponseWriter, r *http.Request, p Principal) error {
	owner, id, err := s.ownWebhook(r, p)
	if err != nil {
		return err
	}
	hook, err := s.feed.Webhooks.Get(owner.Name, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, webhookResponse{Webhook: hook})
	return nil
}

// DELETE /v1/webhooks/{id}
func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request, p Principal) error {
	owner, id, err := s.ownWebhook(r, p)
	if err != nil {
		return err
	}
	if err := s.feed.Webhooks.Delete(owner.Name, id); err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// POST /v1/webhooks/{id}/enable (an extension: re-enabling a disabled webhook)
func (s *Server) enableWebhook(w http.ResponseWriter, r *http.Request, p Principal) error {
	owner, id, err := s.ownWebhook(r, p)
	if err != nil {
		return err
	}
	hook, err := s.feed.Webhooks.Enable(owner.Name, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, webhookResponse{Webhook: hook})
	return nil
}

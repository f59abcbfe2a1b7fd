package domain

// Routing: the directory that finds the channel stream holding a partner or customer ID (confirmed
// IDs cached, others looked up in their reservation stream and checked in the holding channel), and the
// channel each actor's command goes to.

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// actorChannel is the channel a partner actor acts in ("" for other roles).
func (s *Service) actorChannel(ctx context.Context, a Actor) (string, error) {
	if a.Role != RolePartner {
		return "", nil
	}
	if !ValidID(a.PartnerID) {
		return "", Errorf(CodeForbidden, "actor %q acts for no valid partner", a.Name)
	}
	ch, err := s.PartnerChannel(ctx, a.PartnerID)
	if ErrorCode(err) == CodeNotFound {
		return "", Errorf(CodeForbidden, "actor %q acts for partner %q, which is not registered", a.Name, a.PartnerID)
	}
	return ch, err
}

// PartnerChannel returns the channel stream holding partner id, or a not_found *Error.
func (s *Service) PartnerChannel(ctx context.Context, id string) (string, error) {
	return s.directory(ctx, kindPartner, id)
}

// CustomerChannel returns the channel stream holding customer id, or a not_found *Error.
func (s *Service) CustomerChannel(ctx context.Context, id string) (string, error) {
	return s.directory(ctx, kindCustomer, id)
}

func (s *Service) directory(ctx context.Context, kind entityKind, id string) (string, error) {
	if !ValidID(id) {
		return "", Errorf(CodeNotFound, "%s %q not found", kind, truncateString(id, 80))
	}
	dir := s.dir(kind)
	s.mu.Lock()
	ch, ok := dir[id]
	s.mu.Unlock()
	if ok {
		return ch, nil
	}
	res, err := s.log.Read(ctx, kind.reservationStream(id), 0)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", kind.reservationStream(id), err)
	}
	holder := ""
	for i := range res {
		if res[i].Type == EventIDReserved {
			var d IDReserved
			if json.Unmarshal(res[i].Data, &d) == nil {
				holder = d.Channel
			}
		}
	}
	if !strings.HasPrefix(holder, ChannelStreamPrefix) {
		return "", Errorf(CodeNotFound, "%s %q not found", kind, id)
	}
	var found bool
	if err := s.query(holder, func(c *Channel) { found = c.holds(kind, id) }); err != nil {
		return "", err
	}
	if !found {
		return "", Errorf(CodeNotFound, "%s %q not found", kind, id)
	}
	s.mu.Lock()
	dir[id] = holder
	s.mu.Unlock()
	return holder, nil
}

// dir is the directory of IDs of kind: ID -> the channel stream holding it (confirmed). The caller
// holds s.mu to use it.
func (s *Service) dir(kind entityKind) map[string]string {
	if kind == kindCustomer {
		return s.customers
	}
	return s.partners
}

func (c *Channel) holds(kind entityKind, id string) bool {
	if kind == kindPartner {
		_, ok := c.partners[id]
		return ok
	}
	cu, ok := c.customers[id]
	return ok && !cu.Disassociated // a disassociated customer's ID is free again (rule 20)
}

func (s *Service) partnerCommandChannel(ctx context.Context, a Actor, target string) (string, error) {
	if a.Role == RolePlatform && strings.TrimSpace(a.Name) != "" && ValidID(target) {
		return s.PartnerChannel(ctx, target)
	}
	return s.actorChannel(ctx, a)
}

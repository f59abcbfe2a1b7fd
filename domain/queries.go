package domain

// Queries: reads of a partner's or customer's state, or of a whole channel, against the committed
// state, in order with the channel's commands.

import (
	"context"
	"strings"
)

// Partner returns partner id's state and its channel stream.
func (s *Service) Partner(ctx context.Context, id string) (Partner, string, error) {
	ch, err := s.PartnerChannel(ctx, id)
	if err != nil {
		return Partner{}, "", err
	}
	var p Partner
	err = s.query(ch, func(c *Channel) { p, _ = c.Partner(id) })
	return p, ch, err
}

// Customer returns customer id's own state (no cascade), its manager (rule 2) and its channel stream.
func (s *Service) Customer(ctx context.Context, id string) (cu Customer, manager, channel string, err error) {
	channel, err = s.CustomerChannel(ctx, id)
	if err != nil {
		return Customer{}, "", "", err
	}
	err = s.query(channel, func(c *Channel) {
		cu, _ = c.Customer(id)
		manager = c.Manager(cu)
	})
	return cu, manager, channel, err
}

// QueryChannel runs f against the committed state of the channel stored in stream (loading it if
// needed), in order with that channel's commands. f must not keep c or call the Service.
func (s *Service) QueryChannel(ctx context.Context, stream string, f func(c *Channel)) error {
	if !strings.HasPrefix(stream, ChannelStreamPrefix) {
		return Errorf(CodeInvalid, "%q is not a channel stream", stream)
	}
	return s.query(stream, f)
}

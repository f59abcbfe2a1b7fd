package webhook

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
)

// Outbound safety. A webhook URL is chosen by a partner, so the server must not become a way to
// reach what only it can reach (SSRF): URLs are https:// and go to public addresses only. With
// AllowInsecureLoopback (serve --webhook-allow-insecure-loopback, for local use and tests), plain
// http:// is allowed to loopback addresses (127.0.0.0/8, ::1) and nothing else, and loopback is
// allowed for https too. The address is checked when connecting, on the IP actually dialled (a
// net.Dialer Control function), so a name that resolves to a public address at registration and to
// a private one later (DNS rebinding) is refused then. No proxy is used and redirects are not
// followed.

// MaxURLLength bounds a webhook URL.
const MaxURLLength = 2048

// CheckURL checks a webhook URL at registration: absolute, https (or http to a loopback host with
// allowInsecureLoopback), a host, no user info or fragment, and, for an IP literal host, an
// allowed address. The error says what is wrong (it is shown to the caller).
func CheckURL(raw string, allowInsecureLoopback bool) error {
	if raw == "" {
		return fmt.Errorf("url is required")
	}
	if len(raw) > MaxURLLength {
		return fmt.Errorf("url is longer than %d bytes", MaxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("url is not a valid URL")
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return fmt.Errorf("url must be https://")
	}
	if u.Opaque != "" || u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("url must be absolute, with a host")
	}
	if u.User != nil {
		return fmt.Errorf("url must not carry user info (credentials)")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Errorf("url must not have a fragment")
	}
	for _, c := range raw {
		if c <= ' ' || c == 0x7f {
			return fmt.Errorf("url contains spaces or control characters")
		}
	}
	host := u.Hostname()
	addr, literal := parseIP(host)
	if u.Scheme == "http" {
		if !allowInsecureLoopback {
			return fmt.Errorf("url must be https:// (plain http:// needs serve --webhook-allow-insecure-loopback, and then only to 127.0.0.0/8 or [::1])")
		}
		if !(literal && addr.IsLoopback()) && !strings.EqualFold(host, "localhost") {
			return fmt.Errorf("plain http:// is allowed to loopback addresses only (127.0.0.0/8, [::1], localhost)")
		}
		return nil
	}
	if literal && !addressAllowed(addr, false, allowInsecureLoopback) {
		return fmt.Errorf("url's address %s is private, loopback, link-local or otherwise not public", addr)
	}
	return nil
}

func parseIP(host string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// cgnat is the shared address space of RFC 6598, private in all but name.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// addressAllowed reports whether a connection to a may be made: loopback only with
// allowLoopback; with plainHTTP, nothing but loopback; otherwise a public unicast address.
func addressAllowed(a netip.Addr, plainHTTP, allowLoopback bool) bool {
	a = a.Unmap()
	if a.IsLoopback() {
		return allowLoopback
	}
	if plainHTTP {
		return false
	}
	switch {
	case !a.IsValid(), a.IsUnspecified(), a.IsPrivate(), a.IsLinkLocalUnicast(), a.IsLinkLocalMulticast(),
		a.IsInterfaceLocalMulticast(), a.IsMulticast(), cgnat.Contains(a):
		return false
	case a.Is4() && (a.As4()[0] == 0 || a.As4()[0] >= 240): // "this network", reserved, broadcast
		return false
	}
	return true
}

type plainHTTPKey struct{}

// withPlainHTTP marks a request context as a plain-http delivery for the dial check.
func withPlainHTTP(ctx context.Context, plain bool) context.Context {
	return context.WithValue(ctx, plainHTTPKey{}, plain)
}

// dialContext dials with the address check in the dialer's Control function: it sees the IP and
// port being connected to, after name resolution, for every address tried.
func dialContext(base *net.Dialer, allowLoopback bool) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		plain, _ := ctx.Value(plainHTTPKey{}).(bool)
		d := *base
		d.Control = func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("webhook: refusing to connect to %q: not an IP address", address)
			}
			if !addressAllowed(ap.Addr(), plain, allowLoopback) {
				return fmt.Errorf("webhook: refusing to connect to %s: not a public address", ap.Addr())
			}
			return nil
		}
		return d.DialContext(ctx, network, addr)
	}
}

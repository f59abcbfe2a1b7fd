package webhook

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestCheckURL(t *testing.T) {
	ok := []struct {
		url      string
		loopback bool
	}{
		{"https://hooks.example.com/freezeledger", false},
		{"https://hooks.example.com:8443/x?y=1", false},
		{"https://93.184.216.34/x", false},
		{"http://127.0.0.1:9000/hook", true},
		{"http://[::1]:9000/hook", true},
		{"http://localhost:9000/hook", true},
		{"https://127.0.0.1/x", true},
	}
	for _, c := range ok {
		if err := CheckURL(c.url, c.loopback); err != nil {
			t.Errorf("CheckURL(%q, %v) = %v", c.url, c.loopback, err)
		}
	}
	bad := []struct {
		url      string
		loopback bool
	}{
		{"", false}, {"hooks.example.com", false}, {"ftp://example.com/", false}, {"javascript:alert(1)", false},
		{"http://hooks.example.com/", false}, {"http://hooks.example.com/", true}, {"http://127.0.0.1/", false},
		{"http://10.0.0.1/", true}, {"https://10.0.0.1/", false}, {"https://192.168.1.1/", true},
		{"https://169.254.169.254/latest/meta-data", false}, {"https://[fe80::1]/", false}, {"https://[fd00::1]/", false},
		{"https://127.0.0.1/", false}, {"https://[::1]/", false}, {"https://0.0.0.0/", false}, {"https://100.64.0.1/", false},
		{"https://[::ffff:10.0.0.1]/", false}, {"https://user:pw@example.com/", false}, {"https://example.com/#x", false},
		{"https://exa mple.com/", false}, {"https:///path", false}, {"https://example.com/" + strings.Repeat("a", MaxURLLength), false},
	}
	for _, c := range bad {
		if err := CheckURL(c.url, c.loopback); err == nil {
			t.Errorf("CheckURL(%q, %v) accepted it", c.url, c.loopback)
		}
	}
}

func TestAddressAllowed(t *testing.T) {
	for _, c := range []struct {
		addr                string
		plain, loopback, ok bool
	}{
		{"93.184.216.34", false, false, true}, {"2606:2800:220:1::1", false, false, true},
		{"93.184.216.34", true, true, false}, {"127.0.0.1", true, true, true}, {"127.8.9.10", false, true, true},
		{"::1", true, true, true}, {"127.0.0.1", false, false, false}, {"10.1.2.3", false, true, false},
		{"172.16.0.1", false, false, false}, {"192.168.0.1", false, false, false}, {"169.254.169.254", false, false, false},
		{"fe80::1", false, false, false}, {"fc00::1", false, false, false}, {"0.0.0.0", false, true, false},
		{"::", false, false, false}, {"224.0.0.1", false, false, false}, {"255.255.255.255", false, false, false},
		{"::ffff:127.0.0.1", true, true, true}, {"::ffff:192.168.0.1", false, false, false},
	} {
		if got := addressAllowed(netip.MustParseAddr(c.addr), c.plain, c.loopback); got != c.ok {
			t.Errorf("addressAllowed(%s, plain=%v, loopback=%v) = %v", c.addr, c.plain, c.loopback, got)
		}
	}
}

// The dial check refuses the resolved address itself: "localhost" resolves to loopback, which is
// refused without the loopback allowance even though the name passed no check of its own.
func TestDialChecksResolvedAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	base := &net.Dialer{Timeout: 2 * time.Second}
	if c, err := dialContext(base, false)(ctx, "tcp", "localhost:"+port); err == nil {
		c.Close()
		t.Fatal("dialled loopback without the allowance")
	} else if !strings.Contains(err.Error(), "refusing") {
		t.Fatalf("error %v does not say it refused", err)
	}
	c, err := dialContext(base, true)(withPlainHTTP(ctx, true), "tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatalf("loopback with the allowance: %v", err)
	}
	c.Close()
}

package webhook

import (
	"strings"
	"testing"
)

// The Standard Webhooks specification's published example.
func TestSignStandardWebhooksExample(t *testing.T) {
	const (
		secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		msgID  = "msg_p5jXN8AQM9LWM0D4loKWxJek"
		ts     = 1614265330
		body   = `{"test": 2432232314}`
		want   = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	)
	got, err := Sign(secret, msgID, ts, []byte(body))
	if err != nil || got != want {
		t.Fatalf("Sign = %q, %v; want %q", got, err, want)
	}
	if !Verify(secret, msgID, ts, []byte(body), "v1,bogus "+want) {
		t.Fatal("Verify refused the example among several signatures")
	}
	for _, bad := range []struct {
		id   string
		ts   int64
		body string
	}{{msgID + "x", ts, body}, {msgID, ts + 1, body}, {msgID, ts, body + " "}} {
		if Verify(secret, bad.id, bad.ts, []byte(bad.body), want) {
			t.Fatalf("Verify accepted a changed message %+v", bad)
		}
	}
}

func TestNewSecret(t *testing.T) {
	a, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewSecret()
	if a == b || !strings.HasPrefix(a, SecretPrefix) {
		t.Fatalf("secrets %q %q", a, b)
	}
	k, err := secretKey(a)
	if err != nil || len(k) < 24 || len(k) > 64 {
		t.Fatalf("key of %q: %d bytes, %v", a, len(k), err)
	}
	for _, bad := range []string{"", "whsec_", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_!!!"} {
		if _, err := Sign(bad, "m", 1, nil); err == nil {
			t.Errorf("Sign accepted secret %q", bad)
		}
	}
}

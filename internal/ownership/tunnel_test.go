package ownership

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestTunnelIntentProvesOnlyItsOwnSecrets(t *testing.T) {
	first, second, stranger := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{3}, 32)
	in := TunnelIntent{Name: "k8s_apps_edge", At: time.Now()}
	in.AddSecret(first)
	in.AddSecret(second)
	if in.Attempt != 2 {
		t.Fatalf("Attempt = %d, want 2", in.Attempt)
	}
	for _, tc := range []struct {
		name   string
		secret []byte
		want   bool
	}{
		{"first attempt's secret", first, true},
		{"retry's secret", second, true},
		{"a secret nobody sent", stranger, false},
		{"no secret (token unreadable)", nil, false},
	} {
		if got := in.Proven(tc.secret); got != tc.want {
			t.Errorf("%s: Proven = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestTunnelIntentRoundTripKeepsNoSecret(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	in := TunnelIntent{Name: "edge", At: time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)}
	in.AddSecret(secret)
	raw, err := in.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(raw, string(secret)) {
		t.Fatalf("the annotation carries the secret: %s", raw)
	}
	back := ParseTunnelIntent(raw)
	if !back.Proven(secret) || back.Name != "edge" || back.Attempt != 1 {
		t.Fatalf("round trip lost the intent: %+v", back)
	}
	if got := ParseTunnelIntent("{not json"); got.Name != "" || got.Proven(secret) {
		t.Fatalf("an unreadable intent proved something: %+v", got)
	}
}

func TestTunnelIntentRemembersABoundedNumberOfAttempts(t *testing.T) {
	var in TunnelIntent
	for i := range maxTunnelSecrets + 3 {
		in.AddSecret([]byte{byte(i)})
	}
	if len(in.SecretHashes) != maxTunnelSecrets {
		t.Fatalf("kept %d hashes, want %d", len(in.SecretHashes), maxTunnelSecrets)
	}
	if in.Proven([]byte{0}) || !in.Proven([]byte{byte(maxTunnelSecrets + 2)}) {
		t.Fatal("the oldest attempt should be forgotten and the newest kept")
	}
}

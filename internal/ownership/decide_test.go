package ownership

import (
	"testing"
	"time"

	"github.com/workersvpc/connectivity-operator/internal/cloudflare"
)

var intentAt = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func sent() cloudflare.Service {
	return cloudflare.Service{
		Name: "web", Type: "http",
		Host: cloudflare.Host{IPv4: "10.0.0.5", Network: &cloudflare.Network{TunnelID: "t1"}},
	}
}

func intent() Intent {
	return Intent{Name: "web", At: intentAt, Attempt: 1, Bodies: []cloudflare.Service{sent()}}
}

// remote is a service of the intent's name, created at the given offset from the intent.
func remote(offset time.Duration, edit func(*cloudflare.Service)) *cloudflare.Service {
	svc := sent()
	svc.ID, svc.CreatedAt = "svc-1", intentAt.Add(offset)
	if edit != nil {
		edit(&svc)
	}
	return &svc
}

// TestProven is the claim table: what counts as proof that a service is the intent's own.
func TestProven(t *testing.T) {
	cases := []struct {
		name   string
		intent Intent
		svc    *cloudflare.Service
		want   bool
	}{
		{"created after the intent with the body sent", intent(), remote(time.Second, nil), true},
		{"created a little before the intent: clocks differ", intent(), remote(-time.Minute, nil), true},
		{"a cluster clock far ahead of Cloudflare's", intent(), remote(-9*time.Minute, nil), true},
		{"created long before the intent", intent(), remote(-time.Hour, nil), false},
		{"another body: someone else's, or edited since", intent(), remote(time.Second, func(s *cloudflare.Service) { s.Host.IPv4 = "10.9.9.9" }), false},
		{"same body in another spelling", intent(), remote(time.Second, func(s *cloudflare.Service) {
			s.HTTPPort, s.HTTPSPort = new(int32(80)), new(int32(443))
		}), true},
		{"another name", intent(), remote(time.Second, func(s *cloudflare.Service) { s.Name = "web2" }), false},
		{"no created_at", intent(), remote(0, func(s *cloudflare.Service) { s.CreatedAt = time.Time{} }), false},
		{"an intent that recorded no body (older operator)", Intent{Name: "web", At: intentAt}, remote(time.Second, nil), false},
		{"an unreadable intent", ParseIntent("{not json"), remote(time.Second, nil), false},
		{"the body of an earlier retry", func() Intent {
			in := intent()
			other := sent()
			other.Host.IPv4 = "10.0.0.6"
			in.Bodies = append([]cloudflare.Service{other}, in.Bodies...)
			return in
		}(), remote(time.Second, nil), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.intent.Proven(*c.svc); got != c.want {
				t.Errorf("Proven = %v, want %v", got, c.want)
			}
		})
	}
}

// TestResolve is the resolve table: what an object does with a service of its intent's name.
func TestResolve(t *testing.T) {
	mine := remote(time.Second, nil)
	foreign := remote(time.Second, func(s *cloudflare.Service) { s.Host.IPv4 = "192.168.1.1" })
	cases := []struct {
		name             string
		found            *cloudflare.Service
		uncertain, adopt bool
		want             Resolution
	}{
		{"no service after an unknown outcome: create again", nil, true, false, Retry},
		{"no service after a definite refusal", nil, false, false, Retry},
		{"its own late commit", mine, true, false, Claim},
		{"its own late commit, adopt set too", mine, true, true, Claim},
		{"a foreign service while the outcome is unknown", foreign, true, false, Unknown},
		{"a foreign service, adopt set", foreign, true, true, Adopt},
		{"an equal service on a first attempt's conflict is not ours", mine, false, false, Conflict},
		{"a foreign service on a first attempt's conflict", foreign, false, false, Conflict},
		{"a foreign service on a first attempt's conflict, adopt set", foreign, false, true, Adopt},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Resolve(intent(), c.found, c.uncertain, c.adopt); got != c.want {
				t.Errorf("Resolve = %v, want %v", got, c.want)
			}
		})
	}
}

// TestToDelete is the delete table: an object deletes only a recorded id or a proven one.
func TestToDelete(t *testing.T) {
	in := intent()
	cases := []struct {
		name     string
		recorded string
		intent   *Intent
		found    *cloudflare.Service
		want     string
	}{
		{"the recorded id", "svc-9", nil, nil, "svc-9"},
		{"the recorded id wins over an intent", "svc-9", &in, remote(time.Second, nil), "svc-9"},
		{"nothing recorded, no intent", "", nil, remote(time.Second, nil), ""},
		{"an intent and no service", "", &in, nil, ""},
		{"an intent and its proven service", "", &in, remote(time.Second, nil), "svc-1"},
		{"an intent and the winner's service of the name", "", &in, remote(time.Second, func(s *cloudflare.Service) { s.Host.IPv4 = "10.1.1.1" }), ""},
		{"an intent and an older service of the name", "", &in, remote(-time.Hour, nil), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := ToDelete(c.recorded, c.intent, c.found); got != c.want {
				t.Errorf("ToDelete = %q, want %q", got, c.want)
			}
		})
	}
}

func TestIntentRoundTrip(t *testing.T) {
	raw, err := intent().Encode()
	if err != nil {
		t.Fatal(err)
	}
	back := ParseIntent(raw)
	if back.Name != "web" || !back.At.Equal(intentAt) || back.Attempt != 1 || len(back.Bodies) != 1 || !back.Proven(*remote(time.Second, nil)) {
		t.Errorf("round trip lost something: %+v", back)
	}
}

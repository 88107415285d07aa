package controller

import (
	"net/http"
	"time"

	"github.com/workersvpc/connectivity-operator/internal/account"
	"github.com/workersvpc/connectivity-operator/internal/cloudflare"
	"github.com/workersvpc/connectivity-operator/internal/ratelimit"
)

// ClientOptions configure the Cloudflare clients the controllers build.
type ClientOptions struct {
	// BaseURL of the Cloudflare API.
	BaseURL string
	// Timeout bounds each call.
	Timeout time.Duration
	// Limits holds one budget per credential, shared by every client of that credential.
	Limits *ratelimit.Registry
	// Observer receives API measurements (the metrics); may be nil.
	Observer ratelimit.Observer
}

// NewClientFor returns the ClientFor that main and the tests use. Each client is cheap and made
// per reconcile, so a rotated token takes effect at once; what must be shared, the credential's
// budget and circuit breaker, lives in Limits.
func NewClientFor(opts ClientOptions) ClientFor {
	return func(acct *account.Account, creds cloudflare.Credentials) (cloudflare.Client, error) {
		perWindow, burst := 0, 0
		if rl := acct.RateLimit; rl != nil {
			if rl.RequestsPer5m != nil {
				perWindow = int(*rl.RequestsPer5m)
			}
			if rl.Burst != nil {
				burst = int(*rl.Burst)
			}
		}
		transport := &ratelimit.Transport{
			Limiter:   opts.Limits.For(creds.Fingerprint(), acct.Ref.String(), perWindow, burst),
			AccountID: acct.AccountID,
			Observer:  opts.Observer,
		}
		return cloudflare.New(cloudflare.Config{
			BaseURL:     opts.BaseURL,
			AccountID:   acct.AccountID,
			Credentials: creds,
			HTTPClient:  &http.Client{Transport: transport},
			Timeout:     opts.Timeout,
		})
	}
}

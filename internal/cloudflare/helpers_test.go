package cloudflare_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/workersvpc/connectivity-operator/internal/cloudflare"
	"github.com/workersvpc/connectivity-operator/internal/cloudflare/cloudflaretest"
)

// Sentinel credential values: tests assert they never show up in errors or prints.
const (
	testAccount = "0123456789abcdef0123456789abcdef"
	testTunnel  = "0191dce4-9ab4-7fce-b660-8e5dec5172da"
	testToken   = "SENTINEL-TOKEN-8f1e2d3c4b5a"
	testEmail   = "sentinel-email@example.invalid"
	testKey     = "SENTINEL-KEY-a1b2c3d4e5f6"
)

var (
	tokenCreds = cloudflare.Credentials{APIToken: testToken}
	keyCreds   = cloudflare.Credentials{Email: testEmail, APIKey: testKey}
)

// fakeAPI is a running fake with one account, one tunnel and both credential kinds.
type fakeAPI struct {
	srv     *cloudflaretest.Server
	baseURL string
}

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	return newWrappedFakeAPI(t, nil)
}

// newWrappedFakeAPI is newFakeAPI with wrap (when not nil) in front of the fake, to play a
// server that bends the protocol (ignores a filter, caps a page size).
func newWrappedFakeAPI(t *testing.T, wrap func(http.Handler) http.Handler) *fakeAPI {
	t.Helper()
	srv := cloudflaretest.NewServer()
	var handler http.Handler = srv
	if wrap != nil {
		handler = wrap(srv)
	}
	ts := httptest.NewServer(handler)
	t.Cleanup(ts.Close)
	srv.AddAccount(testAccount)
	srv.AddTunnel(testAccount, testTunnel)
	srv.AddCredential(cloudflaretest.Credential{Token: testToken, Accounts: []string{testAccount}})
	srv.AddCredential(cloudflaretest.Credential{Email: testEmail, Key: testKey, Accounts: []string{testAccount}})
	return &fakeAPI{srv: srv, baseURL: ts.URL + "/client/v4"}
}

// client builds a token client against the fake.
func (f *fakeAPI) client(t *testing.T) cloudflare.Client {
	t.Helper()
	return f.clientWith(t, cloudflare.Config{Credentials: tokenCreds})
}

// clientWith fills in the fake's URL and the test account unless cfg sets them.
func (f *fakeAPI) clientWith(t *testing.T, cfg cloudflare.Config) cloudflare.Client {
	t.Helper()
	if cfg.BaseURL == "" {
		cfg.BaseURL = f.baseURL
	}
	if cfg.AccountID == "" {
		cfg.AccountID = testAccount
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	c, err := cloudflare.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// httpService is a minimal valid http service on an IPv4 origin.
func httpService(name string) cloudflare.Service {
	return cloudflare.Service{
		Name: name,
		Type: "http",
		Host: cloudflare.Host{IPv4: "10.0.0.1", Network: &cloudflare.Network{TunnelID: testTunnel}},
	}
}

// seedHTTP puts a service straight into the fake.
func (f *fakeAPI) seedHTTP(name string) cloudflaretest.Service {
	return f.srv.Seed(testAccount, cloudflaretest.Service{
		Name: name,
		Type: "http",
		Host: cloudflaretest.Host{IPv4: "10.0.0.1", Network: &cloudflaretest.Network{TunnelID: testTunnel}},
	})
}

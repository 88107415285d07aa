package cloudflare_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/workersvpc/connectivity-operator/internal/cloudflare"
	"github.com/workersvpc/connectivity-operator/internal/cloudflare/cloudflaretest"
)

func TestAuthSchemes(t *testing.T) {
	tests := []struct {
		name      string
		creds     cloudflare.Credentials
		wantLabel string
	}{
		{"api token", tokenCreds, "token#"},
		{"email and global key", keyCreds, "key#"},
		{"token wins over a key pair", cloudflare.Credentials{APIToken: testToken, Email: testEmail, APIKey: testKey}, "token#"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t)
			c := api.clientWith(t, cloudflare.Config{Credentials: tt.creds})
			created, err := c.Create(context.Background(), httpService("web"))
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			if _, err := c.Get(context.Background(), created.ID); err != nil {
				t.Fatalf("Get: %v", err)
			}
			for _, r := range api.srv.Requests() {
				if !strings.HasPrefix(r.Credential, tt.wantLabel) {
					t.Errorf("%s %s used credential %q, want %s*", r.Method, r.Path, r.Credential, tt.wantLabel)
				}
			}
		})
	}
}

func TestVerify(t *testing.T) {
	tests := []struct {
		name      string
		cred      cloudflaretest.Credential
		creds     cloudflare.Credentials
		want      error
		wantCalls []string // "route path-suffix"
	}{
		{
			name:      "user token",
			cred:      cloudflaretest.Credential{Token: "user-tok", Accounts: []string{testAccount}},
			creds:     cloudflare.Credentials{APIToken: "user-tok"},
			wantCalls: []string{"verify /user/tokens/verify", "list /services"},
		},
		{
			name:  "account-owned token",
			cred:  cloudflaretest.Credential{Token: "acct-tok", Accounts: []string{testAccount}, AccountOwned: true},
			creds: cloudflare.Credentials{APIToken: "acct-tok"},
			wantCalls: []string{
				"verify /user/tokens/verify", "verify /accounts/" + testAccount + "/tokens/verify", "list /services",
			},
		},
		{
			name:      "invalid token",
			creds:     cloudflare.Credentials{APIToken: "not-a-token"},
			want:      cloudflare.ErrUnauthorized,
			wantCalls: []string{"verify /user/tokens/verify", "verify /accounts/" + testAccount + "/tokens/verify"},
		},
		{
			name:      "token without Workers VPC permission",
			cred:      cloudflaretest.Credential{Token: "ro-tok", Accounts: []string{testAccount}, NoVPCPermission: true},
			creds:     cloudflare.Credentials{APIToken: "ro-tok"},
			want:      cloudflare.ErrForbidden,
			wantCalls: []string{"verify /user/tokens/verify", "list /services"},
		},
		{
			name:      "token for another account",
			cred:      cloudflaretest.Credential{Token: "other-tok", Accounts: []string{"otheraccount"}},
			creds:     cloudflare.Credentials{APIToken: "other-tok"},
			want:      cloudflare.ErrUnauthorized,
			wantCalls: []string{"verify /user/tokens/verify", "list /services"},
		},
		{
			name:      "key pair skips token verify",
			cred:      cloudflaretest.Credential{Email: "k@example.invalid", Key: "kkk", Accounts: []string{testAccount}},
			creds:     cloudflare.Credentials{Email: "k@example.invalid", APIKey: "kkk"},
			wantCalls: []string{"list /services"},
		},
		{
			name:      "wrong key",
			creds:     cloudflare.Credentials{Email: "k@example.invalid", APIKey: "wrong"},
			want:      cloudflare.ErrUnauthorized,
			wantCalls: []string{"list /services"},
		},
		{
			name:      "key pair without Workers VPC permission",
			cred:      cloudflaretest.Credential{Email: "k@example.invalid", Key: "kkk", Accounts: []string{testAccount}, NoVPCPermission: true},
			creds:     cloudflare.Credentials{Email: "k@example.invalid", APIKey: "kkk"},
			want:      cloudflare.ErrForbidden,
			wantCalls: []string{"list /services"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t)
			if tt.cred.Token != "" || tt.cred.Key != "" {
				api.srv.AddCredential(tt.cred)
			}
			err := api.clientWith(t, cloudflare.Config{Credentials: tt.creds}).Verify(context.Background())
			if tt.want == nil && err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if tt.want != nil {
				_ = assertKind(t, err, tt.want)
			}
			assertCalls(t, api.srv.Requests(), tt.wantCalls)
		})
	}
}

// assertCalls compares the request log with "route path-suffix" entries; list calls must ask
// for a single item.
func assertCalls(t *testing.T, reqs []cloudflaretest.Request, want []string) {
	t.Helper()
	if len(reqs) != len(want) {
		t.Fatalf("made %d calls %v, want %v", len(reqs), reqs, want)
	}
	for i, r := range reqs {
		route, suffix, _ := strings.Cut(want[i], " ")
		if string(r.Route) != route || !strings.HasSuffix(r.Path, suffix) {
			t.Errorf("call %d = %s %s, want %s", i, r.Route, r.Path, want[i])
		}
		if r.Route == cloudflaretest.RouteList && !strings.Contains(r.Query, "per_page=1&") && !strings.HasSuffix(r.Query, "per_page=1") {
			t.Errorf("verify list query = %q, want per_page=1", r.Query)
		}
	}
}

func TestVerifyRequiresActiveToken(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"success":true,"errors":[],"messages":[],"result":{"id":"x","status":"disabled"}}`))
	}))
	t.Cleanup(ts.Close)
	c, err := cloudflare.New(cloudflare.Config{BaseURL: ts.URL, AccountID: testAccount, Credentials: tokenCreds})
	if err != nil {
		t.Fatal(err)
	}
	_ = assertKind(t, c.Verify(context.Background()), cloudflare.ErrUnauthorized)
}

func TestEnvironmentIsIgnored(t *testing.T) {
	api := newFakeAPI(t)
	t.Setenv("CLOUDFLARE_API_TOKEN", "env-token")
	t.Setenv("CLOUDFLARE_API_KEY", "env-key")
	t.Setenv("CLOUDFLARE_EMAIL", "env@example.invalid")
	t.Setenv("CLOUDFLARE_API_USER_SERVICE_KEY", "env-service-key")
	t.Setenv("CLOUDFLARE_BASE_URL", "http://127.0.0.1:1/client/v4")
	for _, creds := range []cloudflare.Credentials{tokenCreds, keyCreds} {
		api.srv.ResetRequests()
		if _, err := api.clientWith(t, cloudflare.Config{Credentials: creds}).List(context.Background()); err != nil {
			t.Fatalf("List with %v: %v", creds, err)
		}
		reqs := api.srv.Requests()
		if len(reqs) != 1 || reqs[0].Credential == "unknown" || reqs[0].Credential == "" {
			t.Errorf("with %v the fake saw %+v; environment credentials leaked into the call", creds, reqs)
		}
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	api := newFakeAPI(t)
	hang := cloudflaretest.Fault{Hang: 10 * time.Second}
	failures := []struct {
		name  string
		creds cloudflare.Credentials
		setup func()
	}{
		{"wrong token", cloudflare.Credentials{APIToken: testToken + "-WRONG"}, func() {}},
		{"wrong key pair", cloudflare.Credentials{Email: testEmail, APIKey: testKey + "-WRONG"}, func() {}},
		{"server echoes the token", tokenCreds, func() {
			api.srv.FailNext(cloudflaretest.RouteList, 1, cloudflaretest.Fault{Status: 400, Code: 5102, Message: "bad header " + testToken})
		}},
		{"server echoes the key", keyCreds, func() {
			api.srv.FailNext(cloudflaretest.RouteList, 1, cloudflaretest.Fault{Status: 403, Code: 10000, Message: testEmail + " " + testKey})
		}},
		{"html", tokenCreds, func() { api.srv.FailNext(cloudflaretest.RouteList, 1, cloudflaretest.Fault{Status: 502, HTML: true}) }},
		{"timeout", tokenCreds, func() { api.srv.FailNext(cloudflaretest.RouteList, 1, hang) }},
	}
	for _, f := range failures {
		t.Run(f.name, func(t *testing.T) {
			f.setup()
			cfg := cloudflare.Config{BaseURL: api.baseURL, AccountID: testAccount, Credentials: f.creds, Timeout: 200 * time.Millisecond}
			c, err := cloudflare.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.List(context.Background())
			if err == nil {
				t.Fatal("List succeeded, want a failure")
			}
			assertNoSecret(t, "error", err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
			if apiErr, ok := errors.AsType[*cloudflare.APIError](err); ok {
				assertNoSecret(t, "APIError", fmt.Sprintf("%+v", *apiErr), fmt.Sprintf("%#v", *apiErr))
			}
			assertNoSecret(t, "client", fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprintf("%s", c))
			assertNoSecret(t, "config", fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg))
		})
	}
}

func assertNoSecret(t *testing.T, what string, texts ...string) {
	t.Helper()
	for _, text := range texts {
		for _, secret := range []string{testToken, testKey, testEmail} {
			if strings.Contains(text, secret) {
				t.Errorf("%s text contains a credential: %q", what, text)
			}
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  cloudflare.Config
	}{
		{"no credentials", cloudflare.Config{AccountID: testAccount}},
		{"email without key", cloudflare.Config{AccountID: testAccount, Credentials: cloudflare.Credentials{Email: testEmail}}},
		{"key without email", cloudflare.Config{AccountID: testAccount, Credentials: cloudflare.Credentials{APIKey: testKey}}},
		{"token with a line break", cloudflare.Config{AccountID: testAccount, Credentials: cloudflare.Credentials{APIToken: testToken + "\n"}}},
		{"no account", cloudflare.Config{Credentials: tokenCreds}},
		{"account id with a slash", cloudflare.Config{AccountID: "abc/def", Credentials: tokenCreds}},
		{"account id too long", cloudflare.Config{AccountID: strings.Repeat("a", 33), Credentials: tokenCreds}},
		{"relative base URL", cloudflare.Config{BaseURL: "client/v4", AccountID: testAccount, Credentials: tokenCreds}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := cloudflare.New(tt.cfg)
			if !errors.Is(err, cloudflare.ErrInvalid) || c != nil {
				t.Fatalf("New = %v, %v; want ErrInvalid", c, err)
			}
			assertNoSecret(t, "error", err.Error())
		})
	}
}

func TestHTTPClientCarriesCalls(t *testing.T) {
	api := newFakeAPI(t)
	var seen int
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		seen++
		return http.DefaultTransport.RoundTrip(r)
	})}
	c := api.clientWith(t, cloudflare.Config{Credentials: tokenCreds, HTTPClient: hc})
	if err := c.Verify(context.Background()); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if seen != 2 {
		t.Errorf("transport saw %d calls, want 2", seen)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

package cloudflaretest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Fixture ids and secrets. The secrets are distinctive so the leak test can search for them.
const (
	acct        = "023e105f4ecef8ad9ca31a8372d0c353"
	otherAcct   = "11111111111111111111111111111111"
	tunnel      = "0191dce4-9ab4-7fce-b660-8e5dec5172da"
	userToken   = "tok-SECRET-user-9f8e7d"
	acctToken   = "tok-SECRET-acct-1a2b3c"
	noVPCToken  = "tok-SECRET-novpc-4d5e6f"
	otherToken  = "tok-SECRET-other-7a8b9c"
	legacyEmail = "secret-ops@example.com"
	legacyKey   = "key-SECRET-legacy-0c0d0e"
	servicesURL = "/client/v4/accounts/" + acct + "/connectivity/directory/services"
)

var secrets = []string{userToken, acctToken, noVPCToken, otherToken, legacyEmail, legacyKey}

// fixture is a fake behind a real HTTP server, with one account set up the way most tests need.
type fixture struct {
	fake *Server
	url  string // http://127.0.0.1:port, without /client/v4
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	s := NewServer()
	s.AddAccount(acct)
	s.AddTunnel(acct, tunnel)
	s.AddCredential(Credential{Token: userToken, Accounts: []string{acct}})
	s.AddCredential(Credential{Token: acctToken, Accounts: []string{acct}, AccountOwned: true})
	s.AddCredential(Credential{Token: noVPCToken, Accounts: []string{acct}, NoVPCPermission: true})
	s.AddCredential(Credential{Token: otherToken, Accounts: []string{otherAcct}})
	s.AddCredential(Credential{Email: legacyEmail, Key: legacyKey, Accounts: []string{acct}})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return &fixture{fake: s, url: srv.URL}
}

func bearer(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}}
}

func legacy(email, key string) http.Header {
	return http.Header{"X-Auth-Email": {email}, "X-Auth-Key": {key}}
}

// reply is a raw HTTP answer with its envelope decoded.
type reply struct {
	status int
	header http.Header
	raw    string
	env    struct {
		Success    bool            `json:"success"`
		Errors     []message       `json:"errors"`
		Messages   []message       `json:"messages"`
		Result     json.RawMessage `json:"result"`
		ResultInfo *resultInfo     `json:"result_info"`
	}
}

func (r reply) code() int {
	if len(r.env.Errors) == 0 {
		return 0
	}
	return r.env.Errors[0].Code
}

func (r reply) message() string {
	if len(r.env.Errors) == 0 {
		return ""
	}
	return r.env.Errors[0].Message
}

// service decodes the result as a service.
func (r reply) service(t *testing.T) Service {
	t.Helper()
	var svc Service
	if err := json.Unmarshal(r.env.Result, &svc); err != nil {
		t.Fatalf("result is not a service: %v: %s", err, r.raw)
	}
	return svc
}

// services decodes the result as a list page.
func (r reply) services(t *testing.T) []Service {
	t.Helper()
	var list []Service
	if err := json.Unmarshal(r.env.Result, &list); err != nil {
		t.Fatalf("result is not a list: %v: %s", err, r.raw)
	}
	return list
}

func (f *fixture) call(t *testing.T, method, path, body string, auth http.Header) reply {
	t.Helper()
	r, err := f.callCtx(context.Background(), method, path, body, auth)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

func (f *fixture) callCtx(ctx context.Context, method, path, body string, auth http.Header) (reply, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, f.url+path, rd)
	if err != nil {
		return reply{}, err
	}
	maps.Copy(req.Header, auth)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	r := reply{status: resp.StatusCode, header: resp.Header, raw: string(data)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(data, &r.env); err != nil {
			return reply{}, err
		}
	}
	return r, nil
}

// create posts a body as the user token and fails the test unless it succeeds.
func (f *fixture) create(t *testing.T, body string) Service {
	t.Helper()
	r := f.call(t, http.MethodPost, servicesURL, body, bearer(userToken))
	if r.status != http.StatusOK {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	return r.service(t)
}

// tcpBody is a valid tcp service body with this name.
func tcpBody(name string) string {
	return `{"name":"` + name + `","type":"tcp","host":{"ipv4":"10.0.0.1","network":{"tunnel_id":"` + tunnel + `"}},"tcp_port":5432}`
}

// seedN seeds n services of typ named typ-000, typ-001... in creation order.
func seedN(s *Server, n int, typ string) {
	for i := range n {
		s.Seed(acct, Service{
			Name: fmt.Sprintf("%s-%03d", typ, i), Type: typ,
			Host: Host{IPv4: "10.0.0.1", Network: &Network{TunnelID: tunnel}},
		})
	}
}

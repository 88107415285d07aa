package cloudflaretest

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

const (
	tunnelsURL     = "/client/v4/accounts/" + acct + "/cfd_tunnel"
	noTunnelToken  = "tok-SECRET-notunnel-5e6f7a"
	missingTunnel  = "6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b"
	tunnelsNoAPIv4 = "/accounts/" + acct + "/cfd_tunnel"
)

// secretB64 is the base64 of n bytes, for tunnel_secret.
func secretB64(n int) string {
	return base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", n)))
}

// tunnelFixture is a fixture with a credential lacking the tunnel permission and three tunnels:
// "taken" (created through the API, remotely managed), "busy" (seeded, connected) and "gone"
// (created, then deleted).
type tunnelFixture struct {
	*fixture
	taken, busy, gone string
}

func newTunnelFixture(t *testing.T) *tunnelFixture {
	t.Helper()
	f := &tunnelFixture{fixture: newFixture(t)}
	f.fake.AddCredential(Credential{Token: noTunnelToken, Accounts: []string{acct}, NoTunnelPermission: true})
	f.taken = f.createTunnel(t, `{"name":"taken","config_src":"cloudflare"}`).ID
	f.busy = f.fake.SeedTunnel(acct, "busy").ID
	f.fake.SetTunnelHealth(acct, f.busy, TunnelHealthy, 2)
	f.gone = f.createTunnel(t, `{"name":"gone"}`).ID
	if r := f.call(t, http.MethodDelete, tunnelsURL+"/"+f.gone, "", bearer(userToken)); r.status != http.StatusOK {
		t.Fatalf("delete gone: %d %s", r.status, r.raw)
	}
	f.fake.ResetRequests()
	return f
}

// createTunnel posts a body as the user token and fails the test unless it succeeds.
func (f *fixture) createTunnel(t *testing.T, body string) tunnelJSON {
	t.Helper()
	r := f.call(t, http.MethodPost, tunnelsURL, body, bearer(userToken))
	if r.status != http.StatusOK {
		t.Fatalf("create tunnel: %d %s", r.status, r.raw)
	}
	return r.tunnel(t)
}

// tunnel decodes the result as a tunnel.
func (r reply) tunnel(t *testing.T) tunnelJSON {
	t.Helper()
	var tun tunnelJSON
	if err := json.Unmarshal(r.env.Result, &tun); err != nil {
		t.Fatalf("result is not a tunnel: %v: %s", err, r.raw)
	}
	return tun
}

// tunnels decodes the result as a tunnel list page.
func (r reply) tunnels(t *testing.T) []tunnelJSON {
	t.Helper()
	var list []tunnelJSON
	if err := json.Unmarshal(r.env.Result, &list); err != nil {
		t.Fatalf("result is not a tunnel list: %v: %s", err, r.raw)
	}
	return list
}

// TestTunnelConformance checks every tunnel call's success, validation, conflict, not-found,
// refusal and authentication answers over raw HTTP. {taken}, {busy} and {gone} in a path stand
// for the fixture's tunnels.
func TestTunnelConformance(t *testing.T) {
	user := bearer(userToken)
	noPerm := bearer(noTunnelToken)
	create := func(fields string) string { return "{" + fields + "}" }
	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		auth       http.Header
		wantStatus int
		wantCode   int
		wantMsg    string
	}{
		// Success.
		{"create remotely managed with secret", "POST", tunnelsURL, create(`"name":"new","config_src":"cloudflare","tunnel_secret":"` + secretB64(32) + `"`), user, 200, 0, ""},
		{"create local by default", "POST", tunnelsURL, create(`"name":"new"`), user, 200, 0, ""},
		{"create with a long secret", "POST", tunnelsURL, create(`"name":"new","tunnel_secret":"` + secretB64(64) + `"`), user, 200, 0, ""},
		{"create with null optionals", "POST", tunnelsURL, create(`"name":"new","config_src":null,"tunnel_secret":null`), user, 200, 0, ""},
		{"create ignores unknown fields", "POST", tunnelsURL, create(`"name":"new","id":"x","metadata":{}`), user, 200, 0, ""},
		{"create reuses a deleted tunnel's name", "POST", tunnelsURL, create(`"name":"gone"`), user, 200, 0, ""},
		{"create with legacy key pair", "POST", tunnelsURL, create(`"name":"new"`), legacy(legacyEmail, legacyKey), 200, 0, ""},
		{"create with account-owned token", "POST", tunnelsURL, create(`"name":"new"`), bearer(acctToken), 200, 0, ""},
		{"create needs no Workers VPC permission", "POST", tunnelsURL, create(`"name":"new"`), bearer(noVPCToken), 200, 0, ""},
		{"path without /client/v4", "GET", tunnelsNoAPIv4, "", user, 200, 0, ""},
		{"list", "GET", tunnelsURL, "", user, 200, 0, ""},
		{"list with every filter", "GET", tunnelsURL + "?name=taken&is_deleted=false&uuid={taken}&status=inactive&page=1&per_page=1000", "", user, 200, 0, ""},
		{"get", "GET", tunnelsURL + "/{taken}", "", user, 200, 0, ""},
		{"get deleted", "GET", tunnelsURL + "/{gone}", "", user, 200, 0, ""},
		{"token", "GET", tunnelsURL + "/{taken}/token", "", user, 200, 0, ""},
		{"clean up connections", "DELETE", tunnelsURL + "/{busy}/connections", "", user, 200, 0, ""},
		{"clean up connections of an unconnected tunnel", "DELETE", tunnelsURL + "/{taken}/connections", "", user, 200, 0, ""},
		{"delete", "DELETE", tunnelsURL + "/{taken}", "", user, 200, 0, ""},

		// 400 1001: invalid body or query.
		{"malformed json", "POST", tunnelsURL, `{"name":`, user, 400, 1001, "invalid json"},
		{"empty body", "POST", tunnelsURL, "", user, 400, 1001, "invalid json"},
		{"body is an array", "POST", tunnelsURL, `[]`, user, 400, 1001, "invalid json"},
		{"missing name", "POST", tunnelsURL, create(`"config_src":"cloudflare"`), user, 400, 1001, "name"},
		{"empty name", "POST", tunnelsURL, create(`"name":""`), user, 400, 1001, "name"},
		{"name not a string", "POST", tunnelsURL, create(`"name":7`), user, 400, 1001, "invalid json"},
		{"field name in wrong case", "POST", tunnelsURL, create(`"Name":"new"`), user, 400, 1001, "did you mean"},
		{"config_src unknown", "POST", tunnelsURL, create(`"name":"new","config_src":"dashboard"`), user, 400, 1001, "config_src"},
		{"tunnel_secret not base64", "POST", tunnelsURL, create(`"name":"new","tunnel_secret":"not base64!"`), user, 400, 1001, "tunnel_secret"},
		{"tunnel_secret of 31 bytes", "POST", tunnelsURL, create(`"name":"new","tunnel_secret":"` + secretB64(31) + `"`), user, 400, 1001, "tunnel_secret"},
		{"tunnel_secret empty", "POST", tunnelsURL, create(`"name":"new","tunnel_secret":""`), user, 400, 1001, "tunnel_secret"},
		{"list page 0", "GET", tunnelsURL + "?page=0", "", user, 400, 1001, "page"},
		{"list per_page not a number", "GET", tunnelsURL + "?per_page=many", "", user, 400, 1001, "per_page"},
		{"list is_deleted not a boolean", "GET", tunnelsURL + "?is_deleted=maybe", "", user, 400, 1001, "is_deleted"},

		// 409 1013: the name is held by a non-deleted tunnel, created or seeded.
		{"duplicate name", "POST", tunnelsURL, create(`"name":"taken","config_src":"cloudflare"`), user, 409, 1013, "You already have a tunnel with this name"},
		{"duplicate of a seeded name", "POST", tunnelsURL, create(`"name":"busy"`), user, 409, 1013, "already have a tunnel"},

		// 404 1003: unknown tunnel; a deleted one for token and the deletes.
		{"get unknown", "GET", tunnelsURL + "/" + missingTunnel, "", user, 404, 1003, "Tunnel not found"},
		{"token of unknown", "GET", tunnelsURL + "/" + missingTunnel + "/token", "", user, 404, 1003, "Tunnel not found"},
		{"token of deleted", "GET", tunnelsURL + "/{gone}/token", "", user, 404, 1003, "Tunnel not found"},
		{"delete unknown", "DELETE", tunnelsURL + "/" + missingTunnel, "", user, 404, 1003, "Tunnel not found"},
		{"delete deleted", "DELETE", tunnelsURL + "/{gone}", "", user, 404, 1003, "Tunnel not found"},
		{"clean up connections of unknown", "DELETE", tunnelsURL + "/" + missingTunnel + "/connections", "", user, 404, 1003, "Tunnel not found"},

		// 400 1022: connections must be cleaned up first.
		{"delete with connections", "DELETE", tunnelsURL + "/{busy}", "", user, 400, 1022, "Cannot delete tunnel because it has active connections"},

		// 401/403 10000: bad credentials, another account's, or no Cloudflare Tunnel permission.
		{"no credentials", "GET", tunnelsURL, "", nil, 401, 10000, "Authentication error"},
		{"unknown token", "POST", tunnelsURL, create(`"name":"new"`), bearer("tok-unknown"), 401, 10000, "Authentication error"},
		{"wrong legacy key", "GET", tunnelsURL + "/{taken}", "", legacy(legacyEmail, "key-wrong"), 403, 10000, "Authentication error"},
		{"token of another account", "GET", tunnelsURL, "", bearer(otherToken), 403, 10000, "Authentication error"},
		{"no tunnel permission: create", "POST", tunnelsURL, create(`"name":"new"`), noPerm, 403, 10000, "Authentication error"},
		{"no tunnel permission: list", "GET", tunnelsURL, "", noPerm, 403, 10000, "Authentication error"},
		{"no tunnel permission: get", "GET", tunnelsURL + "/{taken}", "", noPerm, 403, 10000, "Authentication error"},
		{"no tunnel permission: token", "GET", tunnelsURL + "/{taken}/token", "", noPerm, 403, 10000, "Authentication error"},
		{"no tunnel permission: connections", "DELETE", tunnelsURL + "/{busy}/connections", "", noPerm, 403, 10000, "Authentication error"},
		{"no tunnel permission: delete", "DELETE", tunnelsURL + "/{taken}", "", noPerm, 403, 10000, "Authentication error"},

		// Routing: calls the fake does not serve.
		{"edit is not served", "PATCH", tunnelsURL + "/{taken}", `{"name":"x"}`, user, 404, 7000, "No route for that URI"},
		{"unknown sub-resource", "GET", tunnelsURL + "/{taken}/configurations", "", user, 404, 7000, "No route for that URI"},
		{"trailing slash", "GET", tunnelsURL + "/", "", user, 404, 7000, "No route for that URI"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newTunnelFixture(t)
			path := strings.NewReplacer("{taken}", f.taken, "{busy}", f.busy, "{gone}", f.gone).Replace(tt.path)

			r := f.call(t, tt.method, path, tt.body, tt.auth)

			if r.status != tt.wantStatus || r.code() != tt.wantCode || !strings.Contains(r.message(), tt.wantMsg) {
				t.Fatalf("got %d code %d %q, want %d code %d containing %q\n%s",
					r.status, r.code(), r.message(), tt.wantStatus, tt.wantCode, tt.wantMsg, r.raw)
			}
			assertEnvelope(t, r)
		})
	}
}

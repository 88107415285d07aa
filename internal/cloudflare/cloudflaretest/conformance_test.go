package cloudflaretest

import (
	"net/http"
	"strings"
	"testing"
)

// host and body fragments for the conformance table.
const (
	ipv4Host     = `{"ipv4":"10.0.0.1","network":{"tunnel_id":"` + tunnel + `"}}`
	ipv6Host     = `{"ipv6":"fd00::1","network":{"tunnel_id":"` + tunnel + `"}}`
	dualHost     = `{"ipv4":"10.0.0.1","ipv6":"fd00::1","network":{"tunnel_id":"` + tunnel + `"}}`
	hostnameHost = `{"hostname":"db.apps.svc.cluster.local","resolver_network":{"tunnel_id":"` + tunnel + `","resolver_ips":["10.96.0.10"]}}`
)

func body(fields string) string { return "{" + fields + "}" }

// TestConformance checks every row of the API notes' error table, and the success cases next to
// them, over raw HTTP.
func TestConformance(t *testing.T) {
	const (
		existingID = "seeded" // replaced by the id of a seeded service named "taken"
		missingID  = "6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b"
		svcPath    = servicesURL + "/" + existingID
		missingURL = servicesURL + "/" + missingID
	)
	tcp := func(extra string) string {
		return body(`"name":"new","type":"tcp","host":` + ipv4Host + extra)
	}
	httpSvc := func(extra string) string {
		return body(`"name":"new","type":"http","host":` + ipv4Host + extra)
	}
	withHost := func(host string) string { return body(`"name":"new","type":"http","host":` + host) }
	user := bearer(userToken)

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
		{"create tcp", "POST", servicesURL, tcp(`,"tcp_port":5432`), user, 200, 0, ""},
		{"create tcp with app_protocol", "POST", servicesURL, tcp(`,"tcp_port":3306,"app_protocol":"mysql"`), user, 200, 0, ""},
		{"create http with ports", "POST", servicesURL, httpSvc(`,"http_port":8080,"https_port":8443`), user, 200, 0, ""},
		{"create ipv6 host", "POST", servicesURL, withHost(ipv6Host), user, 200, 0, ""},
		{"create dual-stack host", "POST", servicesURL, withHost(dualHost), user, 200, 0, ""},
		{"create hostname host", "POST", servicesURL, withHost(hostnameHost), user, 200, 0, ""},
		{"create with tls_settings", "POST", servicesURL, httpSvc(`,"tls_settings":{"cert_verification_mode":"disabled"}`), user, 200, 0, ""},
		{"create with null optionals", "POST", servicesURL, httpSvc(`,"http_port":null,"tls_settings":null`), user, 200, 0, ""},
		{"create ignores unknown fields", "POST", servicesURL, tcp(`,"service_id":"x","labels":{"a":"b"}`), user, 200, 0, ""},
		{"create with legacy key pair", "POST", servicesURL, tcp(""), legacy(legacyEmail, legacyKey), 200, 0, ""},
		{"create with account-owned token", "POST", servicesURL, tcp(""), bearer(acctToken), 200, 0, ""},
		{"path without /client/v4", "GET", strings.TrimPrefix(servicesURL, "/client/v4"), "", user, 200, 0, ""},
		{"get", "GET", svcPath, "", user, 200, 0, ""},
		{"update keeping own name", "PUT", svcPath, body(`"name":"taken","type":"tcp","host":` + ipv4Host), user, 200, 0, ""},
		{"delete", "DELETE", svcPath, "", user, 200, 0, ""},
		{"list", "GET", servicesURL + "?page=2&per_page=1&type=tcp", "", user, 200, 0, ""},

		// 5101: name conflict (create and rename), unknown tunnel, name checked first.
		{"duplicate name on create", "POST", servicesURL, body(`"name":"taken","type":"tcp","host":` + ipv4Host), user, 400, 5101, `service with name "taken" already exists`},
		{"duplicate name on rename", "PUT", svcPath, body(`"name":"other","type":"tcp","host":` + ipv4Host), user, 400, 5101, `service with name "other" already exists`},
		{"unknown tunnel on create", "POST", servicesURL, body(`"name":"new","type":"tcp","host":{"ipv4":"10.0.0.1","network":{"tunnel_id":"0191dce4-0000-7fce-b660-8e5dec5172da"}}`), user, 400, 5101, "Tunnel ID Not Found"},
		{"unknown tunnel on update", "PUT", svcPath, body(`"name":"taken","type":"tcp","host":{"hostname":"a.example","resolver_network":{"tunnel_id":"nope"}}`), user, 400, 5101, "Tunnel ID Not Found"},
		{"name conflict before tunnel", "POST", servicesURL, body(`"name":"taken","type":"tcp","host":{"ipv4":"10.0.0.1","network":{"tunnel_id":"nope"}}`), user, 400, 5101, "already exists"},

		// 5102: invalid json and each schema rule.
		{"malformed json", "POST", servicesURL, `{"name":`, user, 400, 5102, "invalid json"},
		{"empty body", "POST", servicesURL, "", user, 400, 5102, "invalid json"},
		{"body is an array", "POST", servicesURL, `[]`, user, 400, 5102, "invalid json"},
		{"missing name", "POST", servicesURL, body(`"type":"tcp","host":` + ipv4Host), user, 400, 5102, "invalid json"},
		{"empty name", "POST", servicesURL, body(`"name":"","type":"tcp","host":` + ipv4Host), user, 400, 5102, "invalid json"},
		{"missing type", "POST", servicesURL, body(`"name":"new","host":` + ipv4Host), user, 400, 5102, "invalid json"},
		{"missing host", "POST", servicesURL, body(`"name":"new","type":"tcp"`), user, 400, 5102, "invalid json"},
		{"type not http or tcp", "POST", servicesURL, body(`"name":"new","type":"udp","host":` + ipv4Host), user, 400, 5102, "invalid json"},
		{"field name in wrong case", "POST", servicesURL, body(`"Name":"new","type":"tcp","host":` + ipv4Host), user, 400, 5102, "invalid json"},
		{"nested field in wrong case", "POST", servicesURL, body(`"name":"new","type":"tcp","host":{"ipv4":"10.0.0.1","network":{"tunnelId":"x","Tunnel_ID":"` + tunnel + `"}}`), user, 400, 5102, "invalid json"},
		{"port as string", "POST", servicesURL, tcp(`,"tcp_port":"5432"`), user, 400, 5102, "invalid json"},
		{"host empty", "POST", servicesURL, withHost(`{}`), user, 400, 5102, "invalid json"},
		{"ipv4 without network", "POST", servicesURL, withHost(`{"ipv4":"10.0.0.1"}`), user, 400, 5102, "invalid json"},
		{"ipv4 with resolver_network", "POST", servicesURL, withHost(`{"ipv4":"10.0.0.1","network":{"tunnel_id":"` + tunnel + `"},"resolver_network":{"tunnel_id":"` + tunnel + `"}}`), user, 400, 5102, "invalid json"},
		{"ipv4 not an IPv4 address", "POST", servicesURL, withHost(`{"ipv4":"fd00::1","network":{"tunnel_id":"` + tunnel + `"}}`), user, 400, 5102, "invalid json"},
		{"ipv6 not an IPv6 address", "POST", servicesURL, withHost(`{"ipv6":"10.0.0.1","network":{"tunnel_id":"` + tunnel + `"}}`), user, 400, 5102, "invalid json"},
		{"hostname with ipv4", "POST", servicesURL, withHost(`{"hostname":"a.example","ipv4":"10.0.0.1","resolver_network":{"tunnel_id":"` + tunnel + `"}}`), user, 400, 5102, "invalid json"},
		{"hostname with network", "POST", servicesURL, withHost(`{"hostname":"a.example","network":{"tunnel_id":"` + tunnel + `"}}`), user, 400, 5102, "invalid json"},
		{"hostname without resolver_network", "POST", servicesURL, withHost(`{"hostname":"a.example"}`), user, 400, 5102, "invalid json"},
		{"resolver_ips not IPs", "POST", servicesURL, withHost(`{"hostname":"a.example","resolver_network":{"tunnel_id":"` + tunnel + `","resolver_ips":["dns.local"]}}`), user, 400, 5102, "invalid json"},
		{"empty tunnel_id", "POST", servicesURL, withHost(`{"ipv4":"10.0.0.1","network":{"tunnel_id":""}}`), user, 400, 5102, "invalid json"},
		{"empty resolver tunnel_id", "POST", servicesURL, withHost(`{"hostname":"a.example","resolver_network":{}}`), user, 400, 5102, "invalid json"},
		{"port 0", "POST", servicesURL, tcp(`,"tcp_port":0`), user, 400, 5102, "invalid json"},
		{"port 65536", "POST", servicesURL, httpSvc(`,"https_port":65536`), user, 400, 5102, "invalid json"},
		{"negative port", "POST", servicesURL, httpSvc(`,"http_port":-1`), user, 400, 5102, "invalid json"},
		{"http_port on tcp", "POST", servicesURL, tcp(`,"http_port":80`), user, 400, 5102, "invalid json"},
		{"https_port on tcp", "POST", servicesURL, tcp(`,"https_port":443`), user, 400, 5102, "invalid json"},
		{"tcp_port on http", "POST", servicesURL, httpSvc(`,"tcp_port":5432`), user, 400, 5102, "invalid json"},
		{"app_protocol on http", "POST", servicesURL, httpSvc(`,"app_protocol":"postgresql"`), user, 400, 5102, "invalid json"},
		{"app_protocol unknown", "POST", servicesURL, tcp(`,"app_protocol":"redis"`), user, 400, 5102, "invalid json"},
		{"tls_settings without mode", "POST", servicesURL, httpSvc(`,"tls_settings":{}`), user, 400, 5102, "invalid json"},
		{"tls_settings bad mode", "POST", servicesURL, httpSvc(`,"tls_settings":{"cert_verification_mode":"strict"}`), user, 400, 5102, "invalid json"},
		{"invalid body on update", "PUT", svcPath, `{}`, user, 400, 5102, "invalid json"},
		{"list page 0", "GET", servicesURL + "?page=0", "", user, 400, 5102, "page"},
		{"list page not a number", "GET", servicesURL + "?page=two", "", user, 400, 5102, "page"},
		{"list per_page 0", "GET", servicesURL + "?per_page=0", "", user, 400, 5102, "per_page"},
		{"list type unknown", "GET", servicesURL + "?type=udp", "", user, 400, 5102, "type"},

		// 404 5104: missing service.
		{"get missing", "GET", missingURL, "", user, 404, 5104, "not found"},
		{"update missing", "PUT", missingURL, tcp(""), user, 404, 5104, "not found"},
		{"delete missing", "DELETE", missingURL, "", user, 404, 5104, "not found"},

		// 401/403 10000: bad or missing credentials, or another account's.
		{"no credentials", "GET", servicesURL, "", nil, 401, 10000, "Authentication error"},
		{"unknown token", "GET", servicesURL, "", bearer("tok-unknown"), 401, 10000, "Authentication error"},
		{"not a bearer token", "GET", servicesURL, "", http.Header{"Authorization": {"Basic " + userToken}}, 401, 10000, "Authentication error"},
		{"wrong legacy key", "GET", servicesURL, "", legacy(legacyEmail, "key-wrong"), 403, 10000, "Authentication error"},
		{"legacy key with wrong email", "GET", servicesURL, "", legacy("other@example.com", legacyKey), 403, 10000, "Authentication error"},
		{"token of another account", "GET", servicesURL, "", bearer(otherToken), 403, 10000, "Authentication error"},
		{"create with token of another account", "POST", servicesURL, tcp(""), bearer(otherToken), 403, 10000, "Authentication error"},

		// 403 10196: no Workers VPC permission, on all five calls.
		{"no vpc permission: list", "GET", servicesURL, "", bearer(noVPCToken), 403, 10196, "not authorized for the requested VPC resource"},
		{"no vpc permission: create", "POST", servicesURL, tcp(""), bearer(noVPCToken), 403, 10196, "VPC"},
		{"no vpc permission: get", "GET", svcPath, "", bearer(noVPCToken), 403, 10196, "VPC"},
		{"no vpc permission: update", "PUT", svcPath, tcp(""), bearer(noVPCToken), 403, 10196, "VPC"},
		{"no vpc permission: delete", "DELETE", svcPath, "", bearer(noVPCToken), 403, 10196, "VPC"},

		// Token verification.
		{"verify user token", "GET", "/client/v4/user/tokens/verify", "", user, 200, 0, ""},
		{"verify token without vpc permission", "GET", "/client/v4/user/tokens/verify", "", bearer(noVPCToken), 200, 0, ""},
		{"verify account token", "GET", "/client/v4/accounts/" + acct + "/tokens/verify", "", bearer(acctToken), 200, 0, ""},
		{"verify user token at account endpoint", "GET", "/client/v4/accounts/" + acct + "/tokens/verify", "", user, 401, 1000, "Invalid API Token"},
		{"verify account token at user endpoint", "GET", "/client/v4/user/tokens/verify", "", bearer(acctToken), 401, 1000, "Invalid API Token"},
		{"verify account token at another account", "GET", "/client/v4/accounts/" + otherAcct + "/tokens/verify", "", bearer(acctToken), 401, 1000, "Invalid API Token"},
		{"verify unknown token", "GET", "/client/v4/user/tokens/verify", "", bearer("tok-unknown"), 401, 1000, "Invalid API Token"},
		{"verify without credentials", "GET", "/client/v4/user/tokens/verify", "", nil, 401, 1000, "Invalid API Token"},
		{"verify legacy key", "GET", "/client/v4/user/tokens/verify", "", legacy(legacyEmail, legacyKey), 401, 1000, "Invalid API Token"},

		// Routing.
		{"unknown path", "GET", "/client/v4/zones", "", user, 404, 7000, "No route for that URI"},
		{"unknown method", "PATCH", svcPath, "{}", user, 404, 7000, "No route for that URI"},
		{"trailing slash", "GET", servicesURL + "/", "", user, 404, 7000, "No route for that URI"},
		{"account id over 32 characters", "GET", "/client/v4/accounts/" + acct + "0/connectivity/directory/services", "", user, 404, 7003, "Could not route"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			taken := f.create(t, tcpBody("taken"))
			f.create(t, tcpBody("other"))
			path := strings.Replace(tt.path, "/"+existingID, "/"+taken.ID, 1)

			r := f.call(t, tt.method, path, tt.body, tt.auth)

			if r.status != tt.wantStatus || r.code() != tt.wantCode || !strings.Contains(r.message(), tt.wantMsg) {
				t.Fatalf("got %d code %d %q, want %d code %d containing %q\n%s",
					r.status, r.code(), r.message(), tt.wantStatus, tt.wantCode, tt.wantMsg, r.raw)
			}
			assertEnvelope(t, r)
		})
	}
}

// assertEnvelope checks the envelope's invariants: JSON, success matching the status, arrays
// never null, result null on failure. The conformance rows check the error code itself.
func assertEnvelope(t *testing.T, r reply) {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	for _, key := range []string{`"errors":[`, `"messages":[`, `"result":`} {
		if !strings.Contains(r.raw, key) {
			t.Errorf("envelope lacks %s: %s", key, r.raw)
		}
	}
	if r.env.Success != (r.status == http.StatusOK) {
		t.Errorf("success = %v with status %d", r.env.Success, r.status)
	}
	if r.status != http.StatusOK && (string(r.env.Result) != "null" || len(r.env.Errors) > 1) {
		t.Errorf("failure must have at most one error and a null result: %s", r.raw)
	}
}

package cloudflaretest

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRequestLogIsExact(t *testing.T) {
	f := newFixture(t)
	f.fake.AddAccount(otherAcct)
	start := time.Now()
	created := f.create(t, tcpBody("db"))
	f.fake.FailNext(RouteGet, 1, Fault{Status: 500})
	f.call(t, "GET", servicesURL+"/"+created.ID, "", legacy(legacyEmail, legacyKey))
	f.call(t, "GET", servicesURL+"?per_page=1000", "", nil)
	f.call(t, "GET", servicesURL, "", bearer("tok-unknown"))
	f.call(t, "DELETE", strings.TrimPrefix(servicesURL, "/client/v4")+"/"+created.ID, "", bearer(userToken))
	f.call(t, "GET", "/client/v4/accounts/"+otherAcct+"/connectivity/directory/services", "", bearer(otherToken))
	f.call(t, "GET", "/client/v4/user/tokens/verify", "", bearer(userToken))
	f.call(t, "GET", "/client/v4/nowhere", "", bearer(userToken))
	f.fake.Seed(acct, Service{Name: "out-of-band"}) // not an API call

	want := []Request{
		{Method: "POST", Route: RouteCreate, Path: servicesURL, AccountID: acct, Status: 200, Credential: "token#1"},
		{Method: "GET", Route: RouteGet, Path: servicesURL + "/" + created.ID, AccountID: acct, Status: 500, Credential: "key#5"},
		{Method: "GET", Route: RouteList, Path: servicesURL, Query: "per_page=1000", AccountID: acct, Status: 401},
		{Method: "GET", Route: RouteList, Path: servicesURL, AccountID: acct, Status: 401, Credential: "unknown"},
		{Method: "DELETE", Route: RouteDelete, Path: strings.TrimPrefix(servicesURL, "/client/v4") + "/" + created.ID, AccountID: acct, Status: 200, Credential: "token#1"},
		{Method: "GET", Route: RouteList, Path: "/client/v4/accounts/" + otherAcct + "/connectivity/directory/services", AccountID: otherAcct, Status: 200, Credential: "token#4"},
		{Method: "GET", Route: RouteVerify, Path: "/client/v4/user/tokens/verify", Status: 200, Credential: "token#1"},
		{Method: "GET", Path: "/client/v4/nowhere", Status: 404},
	}
	got := f.fake.Requests()
	for i := range got {
		if got[i].Time.Before(start) || got[i].Time.After(time.Now()) || (i > 0 && got[i].Time.Before(got[i-1].Time)) {
			t.Errorf("entry %d: time %v out of order or range", i, got[i].Time)
		}
		got[i].Time = time.Time{}
	}
	if !slices.Equal(got, want) {
		t.Errorf("log:\n%+v\nwant:\n%+v", got, want)
	}

	counts := map[Route]int{RouteCreate: 1, RouteGet: 1, RouteList: 3, RouteDelete: 1, RouteVerify: 1, RouteUpdate: 0}
	for route, n := range counts {
		if f.fake.Count(route) != n {
			t.Errorf("Count(%s) = %d, want %d", route, f.fake.Count(route), n)
		}
	}
	if f.fake.CountFor(acct, RouteList) != 2 || f.fake.CountFor(otherAcct, RouteList) != 1 || f.fake.CountFor(otherAcct, RouteCreate) != 0 {
		t.Errorf("CountFor: acct list %d, other list %d", f.fake.CountFor(acct, RouteList), f.fake.CountFor(otherAcct, RouteList))
	}
	if f.fake.CountWith(userToken, RouteVerify) != 1 || f.fake.CountWith(otherToken, RouteVerify) != 0 ||
		f.fake.CountWith(otherToken, RouteList) != 1 || f.fake.CountWith("tok-unknown", RouteList) != 0 {
		t.Errorf("CountWith: user verify %d, other verify %d, other list %d", f.fake.CountWith(userToken, RouteVerify),
			f.fake.CountWith(otherToken, RouteVerify), f.fake.CountWith(otherToken, RouteList))
	}
	f.fake.ResetRequests()
	if len(f.fake.Requests()) != 0 || f.fake.Count(RouteList) != 0 {
		t.Error("ResetRequests left entries")
	}
}

// TestCredentialsNeverLeak makes every kind of call with every kind of credential and searches
// every reply, header and log entry for the secrets.
func TestCredentialsNeverLeak(t *testing.T) {
	f := newFixture(t)
	f.fake.SetBudget(4, time.Minute, time.Minute)
	f.fake.FailNext(RouteList, 1, Fault{Status: 502, HTML: true})
	f.fake.FailNext(RouteCreate, 1, Fault{Status: 500, Code: 10001, Commit: true})
	auths := []http.Header{
		bearer(userToken), bearer(acctToken), bearer(noVPCToken), bearer(otherToken),
		legacy(legacyEmail, legacyKey), legacy(legacyEmail, "key-SECRET-wrong"), bearer("tok-SECRET-unknown"),
	}
	calls := []struct{ method, path, body string }{
		{"GET", servicesURL, ""},
		{"POST", servicesURL, tcpBody("db")},
		{"GET", servicesURL + "/x", ""},
		{"GET", "/client/v4/user/tokens/verify", ""},
		{"GET", "/client/v4/accounts/" + acct + "/tokens/verify", ""},
		{"GET", "/client/v4/nowhere", ""},
		{"GET", tunnelsURL, ""},
		{"POST", tunnelsURL, `{"name":"edge"}`},
	}
	var seen strings.Builder
	for _, auth := range auths {
		for _, c := range calls {
			r := f.call(t, c.method, c.path, c.body, auth)
			seen.WriteString(r.raw)
			for k, v := range r.header {
				seen.WriteString(k + ": " + strings.Join(v, ",") + "\n")
			}
		}
	}
	log, _ := json.Marshal(f.fake.Requests())
	seen.Write(log)
	for _, path := range []string{"/_fake/requests", "/_fake/services?account=" + acct, "/_fake/counts", "/_fake/tunnels?account=" + acct} {
		seen.WriteString(adminGet(t, f, path))
	}
	for _, secret := range append(secrets, "key-SECRET-wrong", "tok-SECRET-unknown", "SECRET") {
		if strings.Contains(seen.String(), secret) {
			t.Errorf("%q leaked", secret)
		}
	}
}

func adminGet(t *testing.T, f *fixture, path string) string {
	t.Helper()
	resp, err := http.Get(f.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, data)
	}
	return string(data)
}

func adminPost(t *testing.T, f *fixture, path, body string) int {
	t.Helper()
	resp, err := http.Post(f.url+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

func TestAdminEndpoints(t *testing.T) {
	f := newFixture(t)
	created := f.create(t, tcpBody("db"))
	f.call(t, "GET", servicesURL, "", bearer(userToken))

	var services []Service
	if err := json.Unmarshal([]byte(adminGet(t, f, "/_fake/services?account="+acct)), &services); err != nil ||
		len(services) != 1 || services[0].ID != created.ID {
		t.Errorf("services = %+v, %v", services, err)
	}
	if got := strings.TrimSpace(adminGet(t, f, "/_fake/services?account="+otherAcct)); got != "[]" {
		t.Errorf("empty account = %s", got)
	}

	var counts map[Route]int
	_ = json.Unmarshal([]byte(adminGet(t, f, "/_fake/counts")), &counts)
	if counts[RouteCreate] != 1 || counts[RouteList] != 1 || counts[RouteDelete] != 0 {
		t.Errorf("counts = %v", counts)
	}

	var log []Request
	_ = json.Unmarshal([]byte(adminGet(t, f, "/_fake/requests")), &log)
	if len(log) != 2 || log[0].Route != RouteCreate || log[0].Credential != "token#1" || log[1].Status != 200 {
		t.Errorf("requests = %+v", log)
	}

	if code := adminPost(t, f, "/_fake/faults", `{"route":"list","n":1,"fault":{"status":429,"retry_after":"3s"}}`); code != http.StatusNoContent {
		t.Fatalf("POST faults: %d", code)
	}
	if r := f.call(t, "GET", servicesURL, "", bearer(userToken)); r.status != 429 || r.header.Get("Retry-After") != "3" {
		t.Errorf("injected fault: %d Retry-After %q", r.status, r.header.Get("Retry-After"))
	}
	if code := adminPost(t, f, "/_fake/faults", `{"route":"list","n":1,"fault":{"hang":"forever"}}`); code != http.StatusBadRequest {
		t.Errorf("bad duration accepted: %d", code)
	}
	adminPost(t, f, "/_fake/faults", `{"route":"get","n":5,"fault":{"status":500}}`)
	if code := adminPost(t, f, "/_fake/clear-faults", ""); code != http.StatusNoContent {
		t.Errorf("clear-faults: %d", code)
	}
	if r := f.call(t, "GET", servicesURL+"/"+created.ID, "", bearer(userToken)); r.status != 200 {
		t.Errorf("cleared fault applied: %d", r.status)
	}

	if code := adminPost(t, f, "/_fake/reset-requests", ""); code != http.StatusNoContent || len(f.fake.Requests()) != 0 {
		t.Errorf("reset-requests: %d, %d left", code, len(f.fake.Requests()))
	}
	if len(f.fake.Requests()) != 0 {
		t.Error("admin calls must not be logged")
	}
	if code := adminPost(t, f, "/_fake/nothing", ""); code != http.StatusNotFound {
		t.Errorf("unknown admin endpoint: %d", code)
	}
}

package cloudflaretest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// decodeToken reads a connector token the way cloudflared does.
func decodeToken(t *testing.T, token string) (accountTag, tunnelID string, secret []byte) {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(token)
	if err != nil {
		t.Fatalf("token is not base64: %v", err)
	}
	var c struct {
		A string `json:"a"`
		T string `json:"t"`
		S []byte `json:"s"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatalf("token is not the JSON cloudflared reads: %v", err)
	}
	return c.A, c.T, c.S
}

// newBareFixture is newFixture without the fixture's tunnel, for tests that list every tunnel.
func newBareFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t)
	f.fake.mu.Lock()
	delete(f.fake.accounts[acct].tunnels, tunnel)
	f.fake.mu.Unlock()
	return f
}

func TestTunnelCreateReply(t *testing.T) {
	f := newFixture(t)
	secret := bytes.Repeat([]byte{0xA5}, 40)
	before := time.Now()
	r := f.call(t, http.MethodPost, tunnelsURL,
		`{"name":"edge","config_src":"cloudflare","tunnel_secret":"`+base64.StdEncoding.EncodeToString(secret)+`"}`, bearer(userToken))
	if r.status != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", r.status, r.raw)
	}
	got := r.tunnel(t)
	if !uuidV4.MatchString(got.ID) || got.Name != "edge" || got.Status != TunnelInactive || got.ConfigSrc != configSrcCloudflare ||
		!got.RemoteConfig || got.TunType != "cfd_tunnel" || got.AccountTag != acct || got.CreatedAt.Before(before.Add(-time.Second)) {
		t.Errorf("reply = %+v", got)
	}
	for _, want := range []string{`"deleted_at":null`, `"connections":[]`, `"conns_active_at":null`, `"created_at":"`} {
		if !strings.Contains(string(r.env.Result), want) {
			t.Errorf("reply lacks %s: %s", want, r.env.Result)
		}
	}
	account, id, gotSecret := decodeToken(t, got.Token)
	if account != acct || id != got.ID || !bytes.Equal(gotSecret, secret) {
		t.Errorf("token holds %s %s %x, want %s %s %x", account, id, gotSecret, acct, got.ID, secret)
	}
	if f.fake.TunnelTokenOf(acct, got.ID) != got.Token {
		t.Error("TunnelTokenOf differs from the create reply's token")
	}
	var viaAPI string
	_ = json.Unmarshal(f.call(t, http.MethodGet, tunnelsURL+"/"+got.ID+"/token", "", bearer(userToken)).env.Result, &viaAPI)
	if viaAPI != got.Token {
		t.Errorf("token endpoint = %q, want the create reply's token", viaAPI)
	}
	if get := f.call(t, http.MethodGet, tunnelsURL+"/"+got.ID, "", bearer(userToken)); strings.Contains(get.raw, `"token"`) {
		t.Errorf("a get must not carry the token: %s", get.raw)
	}
}

func TestTunnelCreateDefaults(t *testing.T) {
	f := newFixture(t)
	local := f.call(t, http.MethodPost, tunnelsURL, `{"name":"local"}`, bearer(userToken))
	if tun := local.tunnel(t); tun.ConfigSrc != configSrcLocal || tun.RemoteConfig || strings.Contains(local.raw, `"token"`) {
		t.Errorf("a local tunnel's create = %s, want config_src local and no token", local.raw)
	}
	remote := f.createTunnel(t, `{"name":"remote","config_src":"cloudflare"}`)
	other := f.createTunnel(t, `{"name":"remote2","config_src":"cloudflare"}`)
	_, _, secret := decodeToken(t, remote.Token)
	_, _, otherSecret := decodeToken(t, other.Token)
	if len(secret) != tunnelSecretBytes || bytes.Equal(secret, make([]byte, tunnelSecretBytes)) || bytes.Equal(secret, otherSecret) {
		t.Errorf("chosen secrets %x and %x, want 32 random bytes each", secret, otherSecret)
	}
}

func TestTunnelSoftDeleteAndListFilters(t *testing.T) {
	f := newBareFixture(t)
	a := f.createTunnel(t, `{"name":"a"}`)
	b := f.createTunnel(t, `{"name":"b"}`)
	c := f.createTunnel(t, `{"name":"c"}`)
	del := f.call(t, http.MethodDelete, tunnelsURL+"/"+b.ID, "", bearer(userToken))
	if tun := del.tunnel(t); del.status != http.StatusOK || tun.ID != b.ID || tun.DeletedAt == nil {
		t.Fatalf("delete reply: %d %s", del.status, del.raw)
	}
	b2 := f.createTunnel(t, `{"name":"b"}`) // the name is free again
	f.fake.SetTunnelHealth(acct, c.ID, TunnelHealthy, 1)

	tests := []struct {
		query string
		want  []string
	}{
		{"", []string{a.ID, b.ID, c.ID, b2.ID}},
		{"?is_deleted=false", []string{a.ID, c.ID, b2.ID}},
		{"?is_deleted=true", []string{b.ID}},
		{"?name=b", []string{b.ID, b2.ID}},
		{"?name=b&is_deleted=false", []string{b2.ID}},
		{"?name=B", nil},
		{"?name=", nil},
		{"?uuid=" + a.ID, []string{a.ID}},
		{"?status=healthy", []string{c.ID}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			var ids []string
			for _, tun := range f.call(t, http.MethodGet, tunnelsURL+tt.query, "", bearer(userToken)).tunnels(t) {
				ids = append(ids, tun.ID)
			}
			if !slices.Equal(ids, tt.want) {
				t.Errorf("list%s = %v, want %v", tt.query, ids, tt.want)
			}
		})
	}
	if got := f.call(t, http.MethodGet, tunnelsURL+"/"+b.ID, "", bearer(userToken)).tunnel(t); got.DeletedAt == nil {
		t.Errorf("a deleted tunnel must still be answered, with deleted_at: %+v", got)
	}
	all := f.fake.Tunnels(acct)
	if len(all) != 4 || all[1].ID != b.ID || all[1].DeletedAt == nil || all[3].DeletedAt != nil {
		t.Errorf("Tunnels = %+v, want four in creation order, the second deleted", all)
	}
}

func TestTunnelListPagination(t *testing.T) {
	f := newBareFixture(t)
	for i := range 45 {
		f.fake.SeedTunnel(acct, fmt.Sprintf("t-%03d", i))
	}
	tests := []struct {
		query    string
		first    string
		wantInfo resultInfo
	}{
		{"", "t-000", resultInfo{Page: 1, PerPage: 20, Count: 20, TotalCount: 45, TotalPages: 3}},
		{"?page=3", "t-040", resultInfo{Page: 3, PerPage: 20, Count: 5, TotalCount: 45, TotalPages: 3}},
		{"?page=4", "", resultInfo{Page: 4, PerPage: 20, Count: 0, TotalCount: 45, TotalPages: 3}},
		{"?per_page=5000", "t-000", resultInfo{Page: 1, PerPage: 1000, Count: 45, TotalCount: 45, TotalPages: 1}},
		{"?per_page=10&page=2&is_deleted=false", "t-010", resultInfo{Page: 2, PerPage: 10, Count: 10, TotalCount: 45, TotalPages: 5}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := f.call(t, http.MethodGet, tunnelsURL+tt.query, "", bearer(userToken))
			page := r.tunnels(t)
			if (tt.first == "" && string(r.env.Result) != "[]") || (tt.first != "" && (len(page) == 0 || page[0].Name != tt.first)) {
				t.Errorf("page = %s, want it to start at %q", r.env.Result, tt.first)
			}
			if r.env.ResultInfo == nil || *r.env.ResultInfo != tt.wantInfo {
				t.Errorf("result_info = %+v, want %+v", r.env.ResultInfo, tt.wantInfo)
			}
		})
	}
	f.fake.SetOmitResultInfo(true)
	if r := f.call(t, http.MethodGet, tunnelsURL, "", bearer(userToken)); strings.Contains(r.raw, "result_info") {
		t.Errorf("OmitResultInfo must apply to tunnel lists too: %s", r.raw)
	}
}

func TestTunnelDeleteNeedsConnectionsCleanedUp(t *testing.T) {
	f := newFixture(t)
	id := f.fake.SeedTunnel(acct, "busy").ID
	f.fake.SetTunnelHealth(acct, id, TunnelHealthy, 3)
	got := f.call(t, http.MethodGet, tunnelsURL+"/"+id, "", bearer(userToken)).tunnel(t)
	if got.Status != TunnelHealthy || len(got.Connections) != 3 || got.ConnsActiveAt == nil {
		t.Fatalf("connected tunnel = %+v", got)
	}
	for _, c := range got.Connections {
		if !uuidV4.MatchString(c.ID) || c.UUID != c.ID || c.ColoName == "" || c.OriginIP == "" || c.OpenedAt.IsZero() || c.IsPendingReconnect {
			t.Errorf("connection = %+v", c)
		}
	}
	if r := f.call(t, http.MethodDelete, tunnelsURL+"/"+id, "", bearer(userToken)); r.status != 400 || r.code() != 1022 {
		t.Fatalf("delete with connections: %d %s", r.status, r.raw)
	}
	if r := f.call(t, http.MethodDelete, tunnelsURL+"/"+id+"/connections", "", bearer(userToken)); r.status != 200 || string(r.env.Result) != "null" {
		t.Fatalf("clean up: %d %s", r.status, r.raw)
	}
	if tun, _ := f.fake.Tunnel(acct, id); tun.Connections != 0 || tun.Status != TunnelDown || tun.DeletedAt != nil {
		t.Errorf("after clean up: %+v, want down with no connections", tun)
	}
	if r := f.call(t, http.MethodDelete, tunnelsURL+"/"+id, "", bearer(userToken)); r.status != 200 {
		t.Fatalf("delete after clean up: %d %s", r.status, r.raw)
	}
	if tun, _ := f.fake.Tunnel(acct, id); tun.DeletedAt == nil {
		t.Error("delete must set deleted_at")
	}
	if f.fake.TunnelTokenOf(acct, id) == "" || f.fake.TunnelTokenOf(acct, "missing") != "" {
		t.Error("TunnelTokenOf: a deleted tunnel keeps its token, an unknown one has none")
	}
}

func TestServicesNeedALiveTunnel(t *testing.T) {
	f := newFixture(t)
	if tun, ok := f.fake.Tunnel(acct, tunnel); !ok || tun.Name != "tunnel-"+tunnel || tun.Status != TunnelHealthy || tun.Connections != 1 {
		t.Fatalf("AddTunnel made %+v, %v", tun, ok)
	}
	seeded := f.fake.SeedTunnel(acct, "fresh")
	body := func(name, id string) string {
		return `{"name":"` + name + `","type":"tcp","host":{"ipv4":"10.0.0.1","network":{"tunnel_id":"` + id + `"}},"tcp_port":5432}`
	}
	if r := f.call(t, http.MethodPost, servicesURL, body("a", seeded.ID), bearer(userToken)); r.status != 200 {
		t.Fatalf("service on a seeded tunnel: %d %s", r.status, r.raw)
	}
	f.call(t, http.MethodDelete, tunnelsURL+"/"+seeded.ID, "", bearer(userToken))
	if r := f.call(t, http.MethodPost, servicesURL, body("b", seeded.ID), bearer(userToken)); r.code() != 5101 || r.message() != "Tunnel ID Not Found" {
		t.Errorf("service on a deleted tunnel: %d %s", r.status, r.raw)
	}
	// AddTunnel brings a deleted tunnel back.
	f.fake.AddTunnel(acct, seeded.ID)
	if r := f.call(t, http.MethodPost, servicesURL, body("b", seeded.ID), bearer(userToken)); r.status != 200 {
		t.Errorf("service after AddTunnel: %d %s", r.status, r.raw)
	}
}

func TestTunnelFaultsOnEveryRoute(t *testing.T) {
	calls := map[Route]struct{ method, path, body string }{
		RouteTunnelCreate:            {"POST", tunnelsURL, `{"name":"n"}`},
		RouteTunnelList:              {"GET", tunnelsURL, ""},
		RouteTunnelGet:               {"GET", tunnelsURL + "/{taken}", ""},
		RouteTunnelToken:             {"GET", tunnelsURL + "/{taken}/token", ""},
		RouteTunnelDelete:            {"DELETE", tunnelsURL + "/{taken}", ""},
		RouteTunnelConnectionsDelete: {"DELETE", tunnelsURL + "/{busy}/connections", ""},
	}
	for route, c := range calls {
		t.Run(string(route), func(t *testing.T) {
			f := newTunnelFixture(t)
			path := strings.NewReplacer("{taken}", f.taken, "{busy}", f.busy).Replace(c.path)
			f.fake.FailNext(route, 1, Fault{Status: 503, Code: 10001, RetryAfter: time.Second})
			r := f.call(t, c.method, path, c.body, bearer(userToken))
			if r.status != 503 || r.code() != 10001 || r.header.Get("Retry-After") != "1" {
				t.Errorf("faulted: %d %s", r.status, r.raw)
			}
			if r := f.call(t, c.method, path, c.body, bearer(userToken)); r.status != 200 {
				t.Errorf("after the fault: %d %s", r.status, r.raw)
			}
			reqs := f.fake.Requests()
			if f.fake.Count(route) != 2 || len(reqs) != 2 || reqs[0].Route != route || reqs[0].Status != 503 || reqs[0].AccountID != acct {
				t.Errorf("log = %+v", reqs)
			}
		})
	}
}

func TestTunnelCommitThenFail(t *testing.T) {
	f := newFixture(t)
	f.fake.FailNext(RouteTunnelCreate, 1, Fault{Status: 500, Commit: true})
	if r := f.call(t, "POST", tunnelsURL, `{"name":"edge"}`, bearer(userToken)); r.status != 500 {
		t.Fatalf("create: %d", r.status)
	}
	if r := f.call(t, "POST", tunnelsURL, `{"name":"edge"}`, bearer(userToken)); r.status != 409 || r.code() != 1013 {
		t.Errorf("the retried create must collide with its committed first attempt: %d %s", r.status, r.raw)
	}
	id := f.fake.Tunnels(acct)[1].ID // [0] is the fixture's tunnel
	f.fake.FailNext(RouteTunnelDelete, 1, Fault{Status: 502, HTML: true, Commit: true})
	if r := f.call(t, "DELETE", tunnelsURL+"/"+id, "", bearer(userToken)); r.status != 502 {
		t.Fatalf("delete: %d", r.status)
	}
	if tun, _ := f.fake.Tunnel(acct, id); tun.DeletedAt == nil {
		t.Error("the failed delete must have committed")
	}
	if n := len(f.fake.Tunnels(acct)); n != 2 {
		t.Errorf("%d tunnels, want the fixture's and one created", n)
	}
}

func TestTunnelAdminEndpoints(t *testing.T) {
	f := newFixture(t)
	var seeded Tunnel
	if err := json.Unmarshal([]byte(adminPostBody(t, f, "/_fake/tunnels?account="+acct, `{"name":"seeded"}`)), &seeded); err != nil || seeded.Name != "seeded" {
		t.Fatalf("seeded = %+v, %v", seeded, err)
	}
	if code := adminPost(t, f, "/_fake/tunnel-health?account="+acct, `{"id":"`+seeded.ID+`","status":"degraded","connections":2}`); code != http.StatusNoContent {
		t.Fatalf("tunnel-health: %d", code)
	}
	var list []Tunnel
	_ = json.Unmarshal([]byte(adminGet(t, f, "/_fake/tunnels?account="+acct)), &list)
	if len(list) != 2 || list[1].ID != seeded.ID || list[1].Status != TunnelDegraded || list[1].Connections != 2 {
		t.Errorf("tunnels = %+v", list)
	}
	var tok map[string]string
	_ = json.Unmarshal([]byte(adminGet(t, f, "/_fake/tunnel-token?account="+acct+"&id="+seeded.ID)), &tok)
	if tok["token"] != f.fake.TunnelTokenOf(acct, seeded.ID) {
		t.Errorf("tunnel-token = %v", tok)
	}
	bad := map[string]string{
		"/_fake/tunnels":                       `{"name":"x"}`,
		"/_fake/tunnels?account=" + acct:       `{}`,
		"/_fake/tunnel-health?account=" + acct: `{"id":"` + seeded.ID + `","status":"great"}`,
	}
	for path, body := range bad {
		if code := adminPost(t, f, path, body); code != http.StatusBadRequest {
			t.Errorf("POST %s %s: %d, want 400", path, body, code)
		}
	}
	if code := adminPost(t, f, "/_fake/tunnel-health?account="+acct, `{"id":"missing","status":"down"}`); code != http.StatusNotFound {
		t.Errorf("health of an unknown tunnel: %d", code)
	}
	f.createTunnel(t, `{"name":"api"}`)
	var counts map[Route]int
	_ = json.Unmarshal([]byte(adminGet(t, f, "/_fake/counts")), &counts)
	if counts[RouteTunnelCreate] != 1 || counts[RouteTunnelDelete] != 0 || len(counts) != len(AllRoutes()) {
		t.Errorf("counts = %v", counts)
	}
	if n := len(f.fake.Requests()); n != 1 {
		t.Errorf("admin calls must not be logged: %d entries", n)
	}
}

// adminPostBody posts to an admin endpoint and returns the answer's body, failing unless 200.
func adminPostBody(t *testing.T, f *fixture, path, body string) string {
	t.Helper()
	resp, err := http.Post(f.url+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %d %s", path, resp.StatusCode, buf.String())
	}
	return buf.String()
}

package cloudflaretest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	rayID  = regexp.MustCompile(`^[0-9a-f]{16}-SJC$`)
)

func TestCreateAnswers200WithUUIDAndTimestamps(t *testing.T) {
	f := newFixture(t)
	before := time.Now()
	r := f.call(t, http.MethodPost, servicesURL, tcpBody("db"), bearer(userToken))
	if r.status != http.StatusOK {
		t.Fatalf("status %d, want 200 (not 201): %s", r.status, r.raw)
	}
	svc := r.service(t)
	if !uuidV4.MatchString(svc.ID) {
		t.Errorf("service_id %q is not a v4 UUID", svc.ID)
	}
	if !svc.CreatedAt.Equal(svc.UpdatedAt) || svc.CreatedAt.Before(before.Add(-time.Second)) {
		t.Errorf("created_at %v, updated_at %v: want both now", svc.CreatedAt, svc.UpdatedAt)
	}
	var wire struct {
		CreatedAt string `json:"created_at"`
	}
	_ = json.Unmarshal(r.env.Result, &wire)
	if _, err := time.Parse(time.RFC3339, wire.CreatedAt); err != nil || !strings.HasSuffix(wire.CreatedAt, "Z") {
		t.Errorf("created_at %q is not RFC 3339 UTC", wire.CreatedAt)
	}
	stored, ok := f.fake.Service(acct, svc.ID)
	if !ok || stored.Name != "db" || stored.TCPPort == nil || *stored.TCPPort != 5432 {
		t.Errorf("stored service = %+v, %v", stored, ok)
	}
	if second := f.create(t, tcpBody("db2")); second.ID == svc.ID {
		t.Error("two creates got the same id")
	}
}

func TestUpdateReplacesAndResetsCreatedAt(t *testing.T) {
	f := newFixture(t)
	created := f.create(t, `{"name":"web","type":"http","host":{"ipv4":"10.0.0.1","network":{"tunnel_id":"`+tunnel+`"}},"http_port":8080,"tls_settings":{"cert_verification_mode":"verify_ca"}}`)
	time.Sleep(2 * time.Millisecond)

	r := f.call(t, http.MethodPut, servicesURL+"/"+created.ID, tcpBody("web-renamed"), bearer(userToken))
	if r.status != http.StatusOK {
		t.Fatalf("update: %d %s", r.status, r.raw)
	}
	updated := r.service(t)
	if updated.ID != created.ID {
		t.Errorf("service_id changed: %s -> %s", created.ID, updated.ID)
	}
	if !updated.CreatedAt.After(created.CreatedAt) || !updated.UpdatedAt.Equal(updated.CreatedAt) {
		t.Errorf("created_at %v -> %v, updated_at %v: PUT must reset created_at to now",
			created.CreatedAt, updated.CreatedAt, updated.UpdatedAt)
	}
	// Full replace: fields absent from the PUT are gone.
	if updated.HTTPPort != nil || updated.TLSSettings != nil || updated.Type != "tcp" || updated.Name != "web-renamed" {
		t.Errorf("update did not replace the service: %+v", updated)
	}
	if stored, _ := f.fake.Service(acct, created.ID); stored.Name != "web-renamed" {
		t.Errorf("stored name = %q", stored.Name)
	}
}

func TestOptionalFieldsEchoedOnlyWhenSet(t *testing.T) {
	optional := []string{`"tls_settings"`, `"http_port"`, `"https_port"`, `"tcp_port"`, `"app_protocol"`, `"resolver_ips"`}
	tests := []struct {
		name string
		body string
		want []string // optional keys the reply must contain; the others must be absent
	}{
		{"bare http", `{"name":"a","type":"http","host":{"ipv4":"10.0.0.1","network":{"tunnel_id":"` + tunnel + `"}}}`, nil},
		{"http with https_port and tls", `{"name":"a","type":"http","host":{"ipv4":"10.0.0.1","network":{"tunnel_id":"` + tunnel + `"}},"https_port":443,"tls_settings":{"cert_verification_mode":"verify_full"}}`,
			[]string{`"https_port"`, `"tls_settings"`}},
		{"tcp with app_protocol", `{"name":"a","type":"tcp","host":{"hostname":"db.example.com","resolver_network":{"tunnel_id":"` + tunnel + `","resolver_ips":["10.0.0.2"]}},"tcp_port":5432,"app_protocol":"postgresql"}`,
			[]string{`"tcp_port"`, `"app_protocol"`, `"resolver_ips"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			created := f.call(t, http.MethodPost, servicesURL, tt.body, bearer(userToken))
			got := f.call(t, http.MethodGet, servicesURL+"/"+created.service(t).ID, "", bearer(userToken))
			for _, r := range []reply{created, got} {
				for _, key := range optional {
					if want := contains(tt.want, key); strings.Contains(string(r.env.Result), key) != want {
						t.Errorf("%s present = %v, want %v: %s", key, !want, want, r.env.Result)
					}
				}
			}
		})
	}
}

func contains(list []string, s string) bool {
	return slices.Contains(list, s)
}

func TestListPagination(t *testing.T) {
	f := newFixture(t)
	seedN(f.fake, 45, "tcp")
	seedN(f.fake, 5, "http")
	all := f.fake.Services(acct)

	tests := []struct {
		query     string
		wantNames []string // first and last name of the page; nil for an empty page
		wantInfo  resultInfo
	}{
		{"", []string{"tcp-000", "tcp-019"}, resultInfo{Page: 1, PerPage: 20, Count: 20, TotalCount: 50, TotalPages: 3}},
		{"?page=3", []string{"tcp-040", "http-004"}, resultInfo{Page: 3, PerPage: 20, Count: 10, TotalCount: 50, TotalPages: 3}},
		{"?page=4", nil, resultInfo{Page: 4, PerPage: 20, Count: 0, TotalCount: 50, TotalPages: 3}},
		{"?per_page=5000", []string{"tcp-000", "http-004"}, resultInfo{Page: 1, PerPage: 1000, Count: 50, TotalCount: 50, TotalPages: 1}},
		{"?per_page=1000&page=2", nil, resultInfo{Page: 2, PerPage: 1000, Count: 0, TotalCount: 50, TotalPages: 1}},
		{"?type=http", []string{"http-000", "http-004"}, resultInfo{Page: 1, PerPage: 20, Count: 5, TotalCount: 5, TotalPages: 1}},
		{"?type=tcp&per_page=40&page=2", []string{"tcp-040", "tcp-044"}, resultInfo{Page: 2, PerPage: 40, Count: 5, TotalCount: 45, TotalPages: 2}},
		{"?page=9223372036854775807", nil, resultInfo{Page: 9223372036854775807, PerPage: 20, Count: 0, TotalCount: 50, TotalPages: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := f.call(t, http.MethodGet, servicesURL+tt.query, "", bearer(userToken))
			if r.status != http.StatusOK {
				t.Fatalf("%d %s", r.status, r.raw)
			}
			page := r.services(t)
			if tt.wantNames == nil {
				if string(r.env.Result) != "[]" {
					t.Errorf("empty page result = %s, want []", r.env.Result)
				}
			} else if len(page) == 0 || page[0].Name != tt.wantNames[0] || page[len(page)-1].Name != tt.wantNames[1] {
				t.Errorf("page = %v, want %v..%v", names(page), tt.wantNames[0], tt.wantNames[1])
			}
			if r.env.ResultInfo == nil || *r.env.ResultInfo != tt.wantInfo {
				t.Errorf("result_info = %+v, want %+v", r.env.ResultInfo, tt.wantInfo)
			}
		})
	}

	t.Run("pages cover every service once, in Services order", func(t *testing.T) {
		var got []string
		for page := 1; ; page++ {
			items := f.call(t, http.MethodGet, fmt.Sprintf("%s?page=%d&per_page=7", servicesURL, page), "", bearer(userToken)).services(t)
			if len(items) == 0 {
				break
			}
			got = append(got, names(items)...)
		}
		if strings.Join(got, ",") != strings.Join(names(all), ",") {
			t.Errorf("paged = %v\nwant %v", got, names(all))
		}
	})

	t.Run("OmitResultInfo", func(t *testing.T) {
		f.fake.SetOmitResultInfo(true)
		defer f.fake.SetOmitResultInfo(false)
		r := f.call(t, http.MethodGet, servicesURL, "", bearer(userToken))
		if strings.Contains(r.raw, "result_info") || len(r.services(t)) != 20 {
			t.Errorf("reply = %s", r.raw)
		}
	})
}

func TestListOfEmptyAccountIsEmptyArray(t *testing.T) {
	f := newFixture(t)
	r := f.call(t, http.MethodGet, servicesURL, "", bearer(userToken))
	if string(r.env.Result) != "[]" {
		t.Errorf("result = %s, want []", r.env.Result)
	}
}

func names(list []Service) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = s.Name
	}
	return out
}

func TestCFRayOnEveryResponse(t *testing.T) {
	f := newFixture(t)
	f.fake.FailNext(RouteGet, 1, Fault{Status: http.StatusBadGateway, HTML: true})
	calls := []struct{ method, path string }{
		{http.MethodGet, servicesURL},                     // 200
		{http.MethodGet, servicesURL + "/x"},              // HTML 502 fault
		{http.MethodGet, servicesURL + "/x"},              // 404
		{http.MethodGet, "/client/v4/nowhere"},            // 404 no route
		{http.MethodGet, "/client/v4/user/tokens/verify"}, // 200
	}
	seen := map[string]bool{}
	for _, c := range calls {
		r := f.call(t, c.method, c.path, "", bearer(userToken))
		ray := r.header.Get("CF-Ray")
		if !rayID.MatchString(ray) {
			t.Errorf("%s %s (%d): CF-Ray %q", c.method, c.path, r.status, ray)
		}
		seen[ray] = true
	}
	if len(seen) != len(calls) {
		t.Errorf("CF-Ray ids repeat: %v", seen)
	}
	if r := f.call(t, http.MethodGet, servicesURL, "", nil); !rayID.MatchString(r.header.Get("CF-Ray")) {
		t.Errorf("401 without CF-Ray")
	}
}

func TestStateHelpers(t *testing.T) {
	f := newFixture(t)
	seeded := f.fake.Seed(acct, Service{Name: "orphan", Type: "tcp", Host: Host{IPv4: "10.0.0.9", Network: &Network{TunnelID: tunnel}}})
	if !uuidV4.MatchString(seeded.ID) || seeded.CreatedAt.IsZero() || !seeded.UpdatedAt.Equal(seeded.CreatedAt) {
		t.Fatalf("Seed = %+v", seeded)
	}
	if got := f.call(t, http.MethodGet, servicesURL+"/"+seeded.ID, "", bearer(userToken)).service(t); got.Name != "orphan" {
		t.Errorf("seeded service not served: %+v", got)
	}
	// A duplicate name created out of band makes the API refuse the name.
	if r := f.call(t, http.MethodPost, servicesURL, tcpBody("orphan"), bearer(userToken)); r.code() != 5101 {
		t.Errorf("create over seeded name: %d %s", r.code(), r.raw)
	}

	if !f.fake.Modify(acct, seeded.ID, func(s *Service) { s.Host.IPv4 = "10.0.0.10"; s.ID = "hijack" }) {
		t.Fatal("Modify returned false")
	}
	modified, _ := f.fake.Service(acct, seeded.ID)
	if modified.Host.IPv4 != "10.0.0.10" || !modified.UpdatedAt.After(seeded.UpdatedAt) || !modified.CreatedAt.Equal(seeded.CreatedAt) {
		t.Errorf("Modify: %+v", modified)
	}
	if f.fake.Modify(acct, "missing", func(*Service) {}) {
		t.Error("Modify of a missing service returned true")
	}

	// Copies are copies.
	list := f.fake.Services(acct)
	list[0].Host.Network.TunnelID = "mutated"
	if again, _ := f.fake.Service(acct, seeded.ID); again.Host.Network.TunnelID != tunnel {
		t.Error("Services returned shared pointers")
	}

	if !f.fake.Remove(acct, seeded.ID) || f.fake.Remove(acct, seeded.ID) {
		t.Error("Remove should report true then false")
	}
	if r := f.call(t, http.MethodGet, servicesURL+"/"+seeded.ID, "", bearer(userToken)); r.status != http.StatusNotFound {
		t.Errorf("removed service still served: %d", r.status)
	}
	// Out-of-band changes are not API calls.
	for _, r := range f.fake.Requests() {
		if r.Route == "" {
			t.Errorf("unexpected log entry %+v", r)
		}
	}
	if n := len(f.fake.Requests()); n != 3 {
		t.Errorf("log has %d entries, want the 3 API calls", n)
	}
}

func TestRemoveCredentialRevokes(t *testing.T) {
	f := newFixture(t)
	f.fake.AddCredential(Credential{Token: "tok-SECRET-rotated", Accounts: []string{acct}})
	if r := f.call(t, http.MethodGet, servicesURL, "", bearer("tok-SECRET-rotated")); r.status != http.StatusOK {
		t.Fatalf("new token: %d", r.status)
	}
	f.fake.RemoveCredential("tok-SECRET-rotated")
	if r := f.call(t, http.MethodGet, servicesURL, "", bearer("tok-SECRET-rotated")); r.status != http.StatusUnauthorized || r.code() != 10000 {
		t.Errorf("revoked token: %d %s", r.status, r.raw)
	}
	f.fake.RemoveCredential(legacyKey)
	if r := f.call(t, http.MethodGet, servicesURL, "", legacy(legacyEmail, legacyKey)); r.status != http.StatusForbidden {
		t.Errorf("revoked key: %d %s", r.status, r.raw)
	}
	if r := f.call(t, http.MethodGet, servicesURL, "", bearer(userToken)); r.status != http.StatusOK {
		t.Errorf("other credentials must survive: %d", r.status)
	}
}

func TestConcurrentCallsAreSafeAndCounted(t *testing.T) {
	f := newFixture(t)
	const workers, each = 8, 10
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				f.create(t, tcpBody(fmt.Sprintf("w%d-%d", w, i)))
				f.call(t, http.MethodGet, servicesURL, "", bearer(userToken))
				_ = f.fake.Services(acct)
				_ = f.fake.Count(RouteCreate)
			}
		})
	}
	wg.Wait()
	if got := len(f.fake.Services(acct)); got != workers*each {
		t.Errorf("%d services, want %d", got, workers*each)
	}
	if f.fake.Count(RouteCreate) != workers*each || f.fake.Count(RouteList) != workers*each {
		t.Errorf("counts create=%d list=%d", f.fake.Count(RouteCreate), f.fake.Count(RouteList))
	}
}

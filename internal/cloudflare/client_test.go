package cloudflare_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/workersvpc/connectivity-operator/internal/cloudflare"
	"github.com/workersvpc/connectivity-operator/internal/cloudflare/cloudflaretest"
)

// wireFields is a service as JSON keys and values, without the read-only fields, so the
// client's model and the fake's independent model can be compared on the wire shape.
func wireFields(t *testing.T, v any) map[string]any {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"service_id", "created_at", "updated_at"} {
		delete(m, k)
	}
	return m
}

// withoutReadOnly clears what the API assigns, to compare a reply with what was sent.
func withoutReadOnly(s cloudflare.Service) cloudflare.Service {
	s.ID, s.CreatedAt, s.UpdatedAt = "", time.Time{}, time.Time{}
	return s
}

func TestCreate(t *testing.T) {
	tests := []struct {
		name string
		svc  cloudflare.Service
	}{
		{name: "ipv4 http, ports and tls absent", svc: httpService("web")},
		{name: "ipv6 https only with tls", svc: cloudflare.Service{
			Name: "secure", Type: "http",
			Host:        cloudflare.Host{IPv6: "fe80::1", Network: &cloudflare.Network{TunnelID: testTunnel}},
			HTTPSPort:   new(int32(8443)),
			TLSSettings: &cloudflare.TLSSettings{CertVerificationMode: "verify_ca"},
		}},
		{name: "dual stack tcp postgresql", svc: cloudflare.Service{
			Name: "db", Type: "tcp",
			Host:        cloudflare.Host{IPv4: "10.0.0.2", IPv6: "fd00::2", Network: &cloudflare.Network{TunnelID: testTunnel}},
			TCPPort:     new(int32(5432)),
			AppProtocol: "postgresql",
		}},
		{name: "hostname with resolvers, both http ports", svc: cloudflare.Service{
			Name: "api", Type: "http",
			Host: cloudflare.Host{Hostname: "api.default.svc.cluster.local", ResolverNetwork: &cloudflare.ResolverNetwork{
				TunnelID: testTunnel, ResolverIPs: []string{"10.96.0.10"},
			}},
			HTTPPort: new(int32(8080)), HTTPSPort: new(int32(8443)),
			TLSSettings: &cloudflare.TLSSettings{CertVerificationMode: "disabled"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t)
			got, err := api.client(t).Create(context.Background(), tt.svc)
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			if got.ID == "" || got.CreatedAt.IsZero() || got.UpdatedAt.IsZero() {
				t.Errorf("reply lacks read-only fields: %+v", got)
			}
			if !reflect.DeepEqual(withoutReadOnly(*got), tt.svc) {
				t.Errorf("reply = %+v, want %+v", withoutReadOnly(*got), tt.svc)
			}
			stored, ok := api.srv.Service(testAccount, got.ID)
			if !ok {
				t.Fatalf("service %s not in the fake", got.ID)
			}
			if want, have := wireFields(t, tt.svc), wireFields(t, stored); !reflect.DeepEqual(have, want) {
				t.Errorf("stored %v, want %v", have, want)
			}
			if n := api.srv.Count(cloudflaretest.RouteCreate); n != 1 {
				t.Errorf("create calls = %d, want 1", n)
			}
		})
	}
}

func TestCreateLeavesUnsetFieldsAbsent(t *testing.T) {
	api := newFakeAPI(t)
	var sent []byte
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.Body != nil {
			sent, _ = io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(sent))
		}
		return http.DefaultTransport.RoundTrip(r)
	})}
	c := api.clientWith(t, cloudflare.Config{Credentials: tokenCreds, HTTPClient: hc})
	got, err := c.Create(context.Background(), httpService("bare"))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(sent, &body); err != nil {
		t.Fatalf("request body %q: %v", sent, err)
	}
	for _, k := range []string{"http_port", "https_port", "tcp_port", "app_protocol", "tls_settings", "service_id", "created_at", "updated_at"} {
		if v, ok := body[k]; ok {
			t.Errorf("request body has %s=%s, want it absent", k, v)
		}
	}
	if want := `{"ipv4":"10.0.0.1","network":{"tunnel_id":"` + testTunnel + `"}}`; string(body["host"]) != want {
		t.Errorf("host = %s, want %s", body["host"], want)
	}
	stored, _ := api.srv.Service(testAccount, got.ID)
	if stored.HTTPPort != nil || stored.HTTPSPort != nil || stored.TCPPort != nil || stored.TLSSettings != nil || stored.AppProtocol != "" {
		t.Errorf("unset fields were stored: %+v", stored)
	}
}

func TestGet(t *testing.T) {
	api := newFakeAPI(t)
	seeded := api.seedHTTP("web")
	tests := []struct {
		name    string
		id      string
		wantErr error
	}{
		{name: "existing", id: seeded.ID},
		{name: "missing", id: "00000000-0000-4000-8000-000000000000", wantErr: cloudflare.ErrNotFound},
		{name: "id that would change the path", id: "../tokens", wantErr: cloudflare.ErrInvalid},
		{name: "empty id", id: "", wantErr: cloudflare.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := api.client(t).Get(context.Background(), tt.id)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Get error = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				return
			}
			if got.ID != seeded.ID || got.Name != "web" || !got.CreatedAt.Equal(seeded.CreatedAt) {
				t.Errorf("Get = %+v, want the seeded service %+v", got, seeded)
			}
		})
	}
	if n := api.srv.Count(cloudflaretest.RouteGet); n != 2 {
		t.Errorf("get calls = %d, want 2 (invalid ids must not be sent)", n)
	}
}

func TestUpdate(t *testing.T) {
	tests := []struct {
		name    string
		id      func(api *fakeAPI, own cloudflaretest.Service) string
		svc     cloudflare.Service
		wantErr error
	}{
		{
			name: "full replace adds tls and a port",
			svc: func() cloudflare.Service {
				s := httpService("renamed")
				s.HTTPPort = new(int32(8080))
				s.TLSSettings = &cloudflare.TLSSettings{CertVerificationMode: "verify_ca"}
				return s
			}(),
		},
		{
			name:    "missing service",
			id:      func(*fakeAPI, cloudflaretest.Service) string { return "00000000-0000-4000-8000-000000000000" },
			svc:     httpService("web"),
			wantErr: cloudflare.ErrNotFound,
		},
		{name: "rename onto a taken name", svc: httpService("taken"), wantErr: cloudflare.ErrNameConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t)
			own := api.srv.Seed(testAccount, cloudflaretest.Service{
				Name: "web", Type: "http", HTTPPort: new(int32(80)),
				TLSSettings: &cloudflaretest.TLSSettings{CertVerificationMode: "disabled"},
				Host:        cloudflaretest.Host{IPv4: "10.0.0.1", Network: &cloudflaretest.Network{TunnelID: testTunnel}},
			})
			api.seedHTTP("taken")
			id := own.ID
			if tt.id != nil {
				id = tt.id(api, own)
			}
			got, err := api.client(t).Update(context.Background(), id, tt.svc)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Update error = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				return
			}
			if got.ID != own.ID || !reflect.DeepEqual(withoutReadOnly(*got), tt.svc) {
				t.Errorf("Update = %+v, want %+v", got, tt.svc)
			}
			stored, _ := api.srv.Service(testAccount, own.ID)
			if want, have := wireFields(t, tt.svc), wireFields(t, stored); !reflect.DeepEqual(have, want) {
				t.Errorf("stored %v, want %v", have, want)
			}
		})
	}
}

func TestUpdateDropsFieldsNotSent(t *testing.T) {
	api := newFakeAPI(t)
	own := api.srv.Seed(testAccount, cloudflaretest.Service{
		Name: "web", Type: "http", HTTPPort: new(int32(80)),
		TLSSettings: &cloudflaretest.TLSSettings{CertVerificationMode: "disabled"},
		Host:        cloudflaretest.Host{IPv4: "10.0.0.1", Network: &cloudflaretest.Network{TunnelID: testTunnel}},
	})
	if _, err := api.client(t).Update(context.Background(), own.ID, httpService("web")); err != nil {
		t.Fatalf("Update: %v", err)
	}
	stored, _ := api.srv.Service(testAccount, own.ID)
	if stored.HTTPPort != nil || stored.TLSSettings != nil {
		t.Errorf("a full replace without port and tls kept them: %+v", stored)
	}
}

func TestDelete(t *testing.T) {
	tests := []struct {
		name    string
		exists  bool
		id      string
		wantErr error
	}{
		{name: "existing", exists: true},
		{name: "already gone is success", id: "00000000-0000-4000-8000-000000000000"},
		{name: "invalid id is not success", id: "a/b", wantErr: cloudflare.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t)
			id := tt.id
			if tt.exists {
				id = api.seedHTTP("web").ID
			}
			err := api.client(t).Delete(context.Background(), id)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("Delete error = %v, want %v", err, tt.wantErr)
			}
			if n := len(api.srv.Services(testAccount)); n != 0 && tt.exists {
				t.Errorf("%d services left, want 0", n)
			}
		})
	}
}

func TestList(t *testing.T) {
	// With result_info a full last page needs no extra call; without it, only a short page ends
	// the list.
	tests := []struct {
		services            int
		wantPages, wantBare int
	}{
		{services: 0, wantPages: 1, wantBare: 1},
		{services: 3, wantPages: 1, wantBare: 1},
		{services: 999, wantPages: 1, wantBare: 1},
		{services: 1000, wantPages: 1, wantBare: 2},
		{services: 1001, wantPages: 2, wantBare: 2},
		{services: 2500, wantPages: 3, wantBare: 3},
	}
	for _, tt := range tests {
		for _, omit := range []bool{false, true} {
			t.Run(fmt.Sprintf("%d services, result_info omitted %v", tt.services, omit), func(t *testing.T) {
				api := newFakeAPI(t)
				api.srv.SetOmitResultInfo(omit)
				want := map[string]bool{}
				for i := range tt.services {
					want[api.seedHTTP("svc-"+strconv.Itoa(i)).ID] = true
				}
				got, err := api.client(t).List(context.Background())
				if err != nil {
					t.Fatalf("List: %v", err)
				}
				seen := map[string]bool{}
				for _, s := range got {
					if !want[s.ID] || seen[s.ID] {
						t.Fatalf("unexpected or repeated service %s", s.ID)
					}
					seen[s.ID] = true
				}
				if len(seen) != tt.services {
					t.Errorf("List returned %d services, want %d", len(seen), tt.services)
				}
				wantPages := tt.wantPages
				if omit {
					wantPages = tt.wantBare
				}
				assertListPages(t, api.srv.Requests(), wantPages)
			})
		}
	}
}

// assertListPages checks the calls were pages 1..n with per_page=1000.
func assertListPages(t *testing.T, reqs []cloudflaretest.Request, n int) {
	t.Helper()
	if len(reqs) != n {
		t.Fatalf("made %d calls, want %d list pages", len(reqs), n)
	}
	for i, r := range reqs {
		q, _ := url.ParseQuery(r.Query)
		if r.Route != cloudflaretest.RouteList || q.Get("per_page") != "1000" || q.Get("page") != strconv.Itoa(i+1) {
			t.Errorf("call %d = %s %s?%s, want list page %d with per_page=1000", i, r.Method, r.Path, r.Query, i+1)
		}
	}
}

func TestFindByName(t *testing.T) {
	tests := []struct {
		name     string
		services int
		find     string
		wantErr  error
	}{
		{name: "on the first page", services: 5, find: "svc-3"},
		{name: "on a later page", services: 1500, find: "svc-1400"},
		{name: "absent", services: 5, find: "nope", wantErr: cloudflare.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t)
			ids := map[string]string{}
			for i := range tt.services {
				name := "svc-" + strconv.Itoa(i)
				ids[name] = api.seedHTTP(name).ID
			}
			got, err := api.client(t).FindByName(context.Background(), tt.find)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("FindByName error = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && (got.Name != tt.find || got.ID != ids[tt.find]) {
				t.Errorf("FindByName = %+v, want %s (%s)", got, tt.find, ids[tt.find])
			}
		})
	}
}

func TestListDecodesLeniently(t *testing.T) {
	api := newFakeAPI(t)
	seeded := api.srv.Seed(testAccount, cloudflaretest.Service{
		Name: "db", Type: "tcp", TCPPort: new(int32(3306)), AppProtocol: "mysql",
		Host: cloudflaretest.Host{Hostname: "db.example.internal", ResolverNetwork: &cloudflaretest.ResolverNetwork{TunnelID: testTunnel}},
	})
	got, err := api.client(t).List(context.Background())
	if err != nil || len(got) != 1 {
		t.Fatalf("List = %v, %v", got, err)
	}
	s := got[0]
	if s.ID != seeded.ID || *s.TCPPort != 3306 || s.AppProtocol != "mysql" || s.Host.ResolverNetwork.TunnelID != testTunnel || !s.CreatedAt.Equal(seeded.CreatedAt) {
		t.Errorf("decoded %+v, want %+v", s, seeded)
	}
}

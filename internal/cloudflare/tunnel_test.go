package cloudflare_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/workersvpc/connectivity-operator/internal/cloudflare"
	"github.com/workersvpc/connectivity-operator/internal/cloudflare/cloudflaretest"
)

// tunnelSecret is the secret tests choose; distinctive, so the leak test can search for it.
var tunnelSecret = []byte("SENTINEL-TUNNEL-SECRET-0123456789abcdef")

const missingTunnelID = "6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b"

// bodyRecorder is an HTTP client that keeps the last request body it sent.
func bodyRecorder(sent *[]byte) *http.Client {
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		*sent = nil
		if r.Body != nil {
			*sent, _ = io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(*sent))
		}
		return http.DefaultTransport.RoundTrip(r)
	})}
}

func TestCreateTunnel(t *testing.T) {
	api := newFakeAPI(t)
	var sent []byte
	c := api.clientWith(t, cloudflare.Config{Credentials: tokenCreds, HTTPClient: bodyRecorder(&sent)})
	before := time.Now()
	got, token, err := c.CreateTunnel(context.Background(), "edge", tunnelSecret)
	if err != nil {
		t.Fatalf("CreateTunnel: %v", err)
	}
	var body map[string]any
	if err := json.Unmarshal(sent, &body); err != nil {
		t.Fatalf("request body %q: %v", sent, err)
	}
	want := map[string]any{"name": "edge", "config_src": "cloudflare", "tunnel_secret": base64.StdEncoding.EncodeToString(tunnelSecret)}
	if fmt.Sprint(body) != fmt.Sprint(want) {
		t.Errorf("request body = %v, want %v", body, want)
	}
	stored, ok := api.srv.Tunnel(testAccount, got.ID)
	if !ok || stored.ConfigSrc != "cloudflare" || got.Name != "edge" || got.Status != "inactive" || got.Connections != 0 ||
		!got.CreatedAt.Equal(stored.CreatedAt) || got.CreatedAt.Before(before.Add(-time.Second)) {
		t.Errorf("CreateTunnel = %+v, stored %+v", got, stored)
	}
	if token.Reveal() != api.srv.TunnelTokenOf(testAccount, got.ID) {
		t.Error("the token is not the reply's")
	}
	id, secret, err := token.Parse()
	if err != nil || id != got.ID || !bytes.Equal(secret, tunnelSecret) {
		t.Errorf("Parse = %s, %q, %v; want the tunnel id and the secret sent", id, secret, err)
	}
	if n := api.srv.Count(cloudflaretest.RouteTunnelCreate); n != 1 {
		t.Errorf("create calls = %d, want 1", n)
	}
}

func TestCreateTunnelWithoutSecret(t *testing.T) {
	api := newFakeAPI(t)
	var sent []byte
	c := api.clientWith(t, cloudflare.Config{Credentials: tokenCreds, HTTPClient: bodyRecorder(&sent)})
	got, token, err := c.CreateTunnel(context.Background(), "edge", nil)
	if err != nil {
		t.Fatalf("CreateTunnel: %v", err)
	}
	if strings.Contains(string(sent), "tunnel_secret") {
		t.Errorf("request body %s, want tunnel_secret absent", sent)
	}
	if id, secret, err := token.Parse(); err != nil || id != got.ID || len(secret) != 32 {
		t.Errorf("Parse = %s, %d bytes, %v; want the id and Cloudflare's 32-byte secret", id, len(secret), err)
	}
}

func TestCreateTunnelErrors(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(t *testing.T, api *fakeAPI)
		creds     cloudflare.Credentials
		tunnel    string
		secret    []byte
		want      error
		wantCalls int
	}{
		{name: "empty name", secret: tunnelSecret, want: cloudflare.ErrInvalid},
		{name: "secret under 32 bytes", tunnel: "edge", secret: tunnelSecret[:31], want: cloudflare.ErrInvalid},
		{name: "name of a created tunnel", tunnel: "edge", secret: tunnelSecret, wantCalls: 2, want: cloudflare.ErrNameConflict,
			setup: func(t *testing.T, api *fakeAPI) {
				_, _, _ = api.client(t).CreateTunnel(context.Background(), "edge", nil)
			}},
		{name: "name of a seeded tunnel", tunnel: "edge", want: cloudflare.ErrNameConflict, wantCalls: 1,
			setup: func(_ *testing.T, api *fakeAPI) { api.srv.SeedTunnel(testAccount, "edge") }},
		{name: "name of a deleted tunnel is free", tunnel: "edge", wantCalls: 2, setup: func(t *testing.T, api *fakeAPI) {
			c := api.client(t)
			old, _, _ := c.CreateTunnel(context.Background(), "edge", nil)
			_ = c.DeleteTunnel(context.Background(), old.ID)
		}},
		{name: "token without the tunnel permission", tunnel: "edge", want: cloudflare.ErrUnauthorized, wantCalls: 1,
			creds: cloudflare.Credentials{APIToken: "no-tunnel-tok"}, setup: func(_ *testing.T, api *fakeAPI) {
				api.srv.AddCredential(cloudflaretest.Credential{Token: "no-tunnel-tok", Accounts: []string{testAccount}, NoTunnelPermission: true})
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t)
			if tt.setup != nil {
				tt.setup(t, api)
			}
			creds := tt.creds
			if creds.APIToken == "" {
				creds = tokenCreds
			}
			_, token, err := api.clientWith(t, cloudflare.Config{Credentials: creds}).CreateTunnel(context.Background(), tt.tunnel, tt.secret)
			if tt.want == nil {
				if err != nil || token.IsZero() {
					t.Fatalf("CreateTunnel = %v, %v; want success", token, err)
				}
			} else {
				_ = assertKind(t, err, tt.want)
			}
			if n := api.srv.Count(cloudflaretest.RouteTunnelCreate); n != tt.wantCalls {
				t.Errorf("create calls = %d, want %d", n, tt.wantCalls)
			}
		})
	}
}

// staticAPI answers every call with status and body, for reply shapes the fake never produces.
func staticAPI(t *testing.T, status int, body string) cloudflare.Client {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("CF-Ray", "0123456789abcdef-SJC")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(ts.Close)
	c, err := cloudflare.New(cloudflare.Config{BaseURL: ts.URL, AccountID: testAccount, Credentials: tokenCreds})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCreateTunnelReplyWithoutToken(t *testing.T) {
	c := staticAPI(t, 200, `{"success":true,"errors":[],"messages":[],"result":{"id":"`+testTunnel+`","name":"edge","status":"inactive"}}`)
	got, token, err := c.CreateTunnel(context.Background(), "edge", tunnelSecret)
	if err != nil || got.ID != testTunnel || !token.IsZero() || token.Reveal() != "" {
		t.Errorf("CreateTunnel = %+v, %v, %v; want the tunnel and a zero token", got, token, err)
	}
}

func TestGetTunnel(t *testing.T) {
	api := newFakeAPI(t)
	c := api.client(t)
	live, _, _ := c.CreateTunnel(context.Background(), "edge", nil)
	api.srv.SetTunnelHealth(testAccount, live.ID, "degraded", 2)
	gone, _, _ := c.CreateTunnel(context.Background(), "gone", nil)
	if err := c.DeleteTunnel(context.Background(), gone.ID); err != nil {
		t.Fatal(err)
	}
	api.srv.ResetRequests()
	tests := []struct {
		name string
		id   string
		want error
	}{
		{"live", live.ID, nil},
		{"unknown", missingTunnelID, cloudflare.ErrNotFound},
		{"deleted", gone.ID, cloudflare.ErrNotFound},
		{"id that would change the path", "../tokens", cloudflare.ErrInvalid},
		{"empty id", "", cloudflare.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.GetTunnel(context.Background(), tt.id)
			if tt.want != nil {
				_ = assertKind(t, err, tt.want)
				return
			}
			if err != nil || got.ID != live.ID || got.Name != "edge" || got.Status != "degraded" || got.Connections != 2 || !got.CreatedAt.Equal(live.CreatedAt) {
				t.Errorf("GetTunnel = %+v, %v", got, err)
			}
		})
	}
	if n := api.srv.Count(cloudflaretest.RouteTunnelGet); n != 3 {
		t.Errorf("get calls = %d, want 3 (invalid ids must not be sent)", n)
	}
}

func TestTunnelRepliesDecodeLeniently(t *testing.T) {
	conns := `[{"id":"a","is_pending_reconnect":false},{"id":"b","is_pending_reconnect":true},{"id":"c"}]`
	tests := []struct {
		name, result string
		want         error
		wantConns    int
	}{
		{"pending reconnects do not count", `{"id":"x","connections":` + conns + `,"deleted_at":null,"extra":{"a":1}}`, nil, 2},
		{"empty deleted_at", `{"id":"x","deleted_at":""}`, nil, 0},
		{"zero deleted_at", `{"id":"x","deleted_at":"0001-01-01T00:00:00Z"}`, nil, 0},
		{"unparseable created_at", `{"id":"x","created_at":"yesterday"}`, nil, 0},
		{"deleted", `{"id":"x","deleted_at":"2026-01-02T03:04:05Z"}`, cloudflare.ErrNotFound, 0},
		{"deleted_at in another format", `{"id":"x","deleted_at":"Mon Jan 2"}`, cloudflare.ErrNotFound, 0},
		{"no id", `{"name":"edge"}`, cloudflare.ErrTransient, 0},
		{"null result", `null`, cloudflare.ErrTransient, 0},
		{"result not an object", `[1]`, cloudflare.ErrTransient, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := staticAPI(t, 200, `{"success":true,"errors":[],"messages":[],"result":`+tt.result+`}`)
			got, err := c.GetTunnel(context.Background(), "x")
			if tt.want != nil {
				_ = assertKind(t, err, tt.want)
				return
			}
			if err != nil || got.Connections != tt.wantConns {
				t.Errorf("GetTunnel = %+v, %v; want %d connections", got, err, tt.wantConns)
			}
		})
	}
}

// tunnelListCalls returns the page numbers of the logged list calls, after checking each
// carries the filters and per_page=1000.
func tunnelListCalls(t *testing.T, reqs []cloudflaretest.Request, name string) []int {
	t.Helper()
	pages := make([]int, 0, len(reqs))
	for _, r := range reqs {
		q, _ := url.ParseQuery(r.Query)
		if r.Route != cloudflaretest.RouteTunnelList || q.Get("name") != name || q.Get("is_deleted") != "false" || q.Get("per_page") != "1000" {
			t.Errorf("call %s %s?%s, want a tunnel list for %q, not deleted, per_page=1000", r.Method, r.Path, r.Query, name)
		}
		page, _ := strconv.Atoi(q.Get("page"))
		pages = append(pages, page)
	}
	return pages
}

func TestFindTunnelByName(t *testing.T) {
	api := newFakeAPI(t)
	c := api.client(t)
	old, _, _ := c.CreateTunnel(context.Background(), "edge", nil)
	_ = c.DeleteTunnel(context.Background(), old.ID)
	live, _, _ := c.CreateTunnel(context.Background(), "edge", nil)
	gone, _, _ := c.CreateTunnel(context.Background(), "gone", nil)
	_ = c.DeleteTunnel(context.Background(), gone.ID)
	api.srv.ResetRequests()

	got, err := c.FindTunnelByName(context.Background(), "edge")
	if err != nil || got.ID != live.ID {
		t.Errorf("FindTunnelByName(edge) = %+v, %v; want the live tunnel %s, not the deleted %s", got, err, live.ID, old.ID)
	}
	if pages := tunnelListCalls(t, api.srv.Requests(), "edge"); !slices.Equal(pages, []int{1}) {
		t.Errorf("pages = %v, want [1]", pages)
	}
	for _, name := range []string{"gone", "nope", "EDGE"} {
		_, err := c.FindTunnelByName(context.Background(), name)
		_ = assertKind(t, err, cloudflare.ErrNotFound)
	}
}

// ignoreFilters plays a server that ignores name and is_deleted and caps per_page at maxPage.
func ignoreFilters(maxPage int) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			q := r.URL.Query()
			q.Del("name")
			q.Del("is_deleted")
			if n, _ := strconv.Atoi(q.Get("per_page")); n > maxPage {
				q.Set("per_page", strconv.Itoa(maxPage))
			}
			r.URL.RawQuery = q.Encode()
			next.ServeHTTP(w, r)
		})
	}
}

func TestFindTunnelByNameAcrossPages(t *testing.T) {
	tests := []struct {
		name      string
		maxPage   int
		others    int
		omitInfo  bool
		wantPages []int
		wantErr   error
	}{
		{name: "filters ignored, target on page 3", maxPage: 1000, others: 2100, wantPages: []int{1, 2, 3}},
		{name: "filters ignored, result_info omitted", maxPage: 1000, others: 2100, omitInfo: true, wantPages: []int{1, 2, 3}},
		{name: "per_page capped at 50, result_info followed", maxPage: 50, others: 120, wantPages: []int{1, 2, 3}},
		{name: "absent, every page read", maxPage: 1000, others: 1500, wantPages: []int{1, 2}, wantErr: cloudflare.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newWrappedFakeAPI(t, ignoreFilters(tt.maxPage))
			api.srv.SetOmitResultInfo(tt.omitInfo)
			deleted := api.srv.SeedTunnel(testAccount, "target")
			c := api.client(t)
			_ = c.DeleteTunnel(context.Background(), deleted.ID)
			for i := range tt.others {
				api.srv.SeedTunnel(testAccount, "other-"+strconv.Itoa(i))
			}
			var target cloudflaretest.Tunnel
			if tt.wantErr == nil {
				target = api.srv.SeedTunnel(testAccount, "target")
			}
			api.srv.ResetRequests()
			got, err := c.FindTunnelByName(context.Background(), "target")
			if tt.wantErr != nil {
				_ = assertKind(t, err, tt.wantErr)
			} else if err != nil || got.ID != target.ID {
				t.Errorf("FindTunnelByName = %+v, %v; want %s", got, err, target.ID)
			}
			var pages []int
			for _, r := range api.srv.Requests() {
				q, _ := url.ParseQuery(r.Query)
				page, _ := strconv.Atoi(q.Get("page"))
				pages = append(pages, page)
			}
			if !slices.Equal(pages, tt.wantPages) {
				t.Errorf("pages = %v, want %v", pages, tt.wantPages)
			}
		})
	}
}

func TestFindTunnelByNameIsBounded(t *testing.T) {
	var calls atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"success":true,"errors":[],"messages":[],"result":[{"id":"x","name":"other"}],"result_info":{"total_pages":1000000}}`)
	}))
	t.Cleanup(ts.Close)
	c, err := cloudflare.New(cloudflare.Config{BaseURL: ts.URL, AccountID: testAccount, Credentials: tokenCreds})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.FindTunnelByName(context.Background(), "target")
	_ = assertKind(t, err, cloudflare.ErrTransient)
	if n := calls.Load(); n != 50 {
		t.Errorf("made %d calls, want the bound of 50 pages", n)
	}
}

func TestTunnelToken(t *testing.T) {
	api := newFakeAPI(t)
	c := api.client(t)
	live, _, _ := c.CreateTunnel(context.Background(), "edge", tunnelSecret)
	gone, _, _ := c.CreateTunnel(context.Background(), "gone", nil)
	_ = c.DeleteTunnel(context.Background(), gone.ID)

	token, err := c.TunnelToken(context.Background(), live.ID)
	if err != nil || token.Reveal() != api.srv.TunnelTokenOf(testAccount, live.ID) {
		t.Fatalf("TunnelToken = %v, %v; want the fake's token", token, err)
	}
	if id, secret, err := token.Parse(); err != nil || id != live.ID || !bytes.Equal(secret, tunnelSecret) {
		t.Errorf("Parse = %s, %v; want the tunnel and the secret chosen", id, err)
	}
	for id, want := range map[string]error{missingTunnelID: cloudflare.ErrNotFound, gone.ID: cloudflare.ErrNotFound, "a/b": cloudflare.ErrInvalid} {
		_, err := c.TunnelToken(context.Background(), id)
		_ = assertKind(t, err, want)
	}
	empty := staticAPI(t, 200, `{"success":true,"errors":[],"messages":[],"result":""}`)
	_, err = empty.TunnelToken(context.Background(), "x")
	_ = assertKind(t, err, cloudflare.ErrTransient)
}

func TestDeleteTunnel(t *testing.T) {
	tests := []struct {
		name      string
		id        func(t *testing.T, api *fakeAPI) string
		fault     func(srv *cloudflaretest.Server)
		want      error
		wantCalls []string // "route status"
		wantGone  bool
	}{
		{name: "connected tunnel: connections first", wantGone: true,
			wantCalls: []string{"tunnel-connections-delete 200", "tunnel-delete 200"}},
		{name: "already deleted", id: func(t *testing.T, api *fakeAPI) string {
			id := api.srv.SeedTunnel(testAccount, "gone").ID
			_ = api.client(t).DeleteTunnel(context.Background(), id)
			api.srv.ResetRequests()
			return id
		}, wantCalls: []string{"tunnel-connections-delete 404", "tunnel-delete 404"}},
		{name: "unknown", id: func(*testing.T, *fakeAPI) string { return missingTunnelID },
			wantCalls: []string{"tunnel-connections-delete 404", "tunnel-delete 404"}},
		{name: "invalid id", id: func(*testing.T, *fakeAPI) string { return "x?y" }, want: cloudflare.ErrInvalid},
		{name: "a connector reconnected in between", want: cloudflare.ErrTransient,
			fault: func(srv *cloudflaretest.Server) {
				srv.FailNext(cloudflaretest.RouteTunnelDelete, 1, cloudflaretest.Fault{Status: 400, Code: 1022, Message: "Cannot delete tunnel because it has active connections"})
			}, wantCalls: []string{"tunnel-connections-delete 200", "tunnel-delete 400"}},
		{name: "clean up fails: no delete sent", want: cloudflare.ErrTransient,
			fault: func(srv *cloudflaretest.Server) {
				srv.FailNext(cloudflaretest.RouteTunnelConnectionsDelete, 1, cloudflaretest.Fault{Status: 503})
			},
			wantCalls: []string{"tunnel-connections-delete 503"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t)
			id := api.srv.SeedTunnel(testAccount, "edge").ID
			api.srv.SetTunnelHealth(testAccount, id, "healthy", 2)
			if tt.id != nil {
				id = tt.id(t, api)
			}
			if tt.fault != nil {
				tt.fault(api.srv)
			}
			err := api.client(t).DeleteTunnel(context.Background(), id)
			if tt.want == nil && err != nil {
				t.Fatalf("DeleteTunnel: %v", err)
			}
			if tt.want != nil {
				_ = assertKind(t, err, tt.want)
			}
			reqs := api.srv.Requests()
			calls := make([]string, 0, len(reqs))
			for _, r := range reqs {
				calls = append(calls, fmt.Sprintf("%s %d", r.Route, r.Status))
			}
			if !slices.Equal(calls, tt.wantCalls) {
				t.Errorf("calls = %v, want %v", calls, tt.wantCalls)
			}
			if tun, _ := api.srv.Tunnel(testAccount, id); tt.wantGone && (tun.DeletedAt == nil || tun.Connections != 0) {
				t.Errorf("tunnel after delete = %+v", tun)
			}
		})
	}
}

// tunnelCalls makes each tunnel route's call, so a fault can be aimed at any of them.
var tunnelCalls = map[cloudflaretest.Route]func(context.Context, cloudflare.Client, string) error{
	cloudflaretest.RouteTunnelCreate: func(ctx context.Context, c cloudflare.Client, _ string) error {
		_, _, err := c.CreateTunnel(ctx, "new", tunnelSecret)
		return err
	},
	cloudflaretest.RouteTunnelList: func(ctx context.Context, c cloudflare.Client, _ string) error {
		_, err := c.FindTunnelByName(ctx, "edge")
		return err
	},
	cloudflaretest.RouteTunnelGet: func(ctx context.Context, c cloudflare.Client, id string) error {
		_, err := c.GetTunnel(ctx, id)
		return err
	},
	cloudflaretest.RouteTunnelToken: func(ctx context.Context, c cloudflare.Client, id string) error {
		_, err := c.TunnelToken(ctx, id)
		return err
	},
	cloudflaretest.RouteTunnelConnectionsDelete: func(ctx context.Context, c cloudflare.Client, id string) error {
		return c.DeleteTunnel(ctx, id)
	},
	cloudflaretest.RouteTunnelDelete: func(ctx context.Context, c cloudflare.Client, id string) error {
		return c.DeleteTunnel(ctx, id)
	},
}

func TestTunnelErrorsMapToSentinels(t *testing.T) {
	tests := []struct {
		name  string
		route cloudflaretest.Route
		fault cloudflaretest.Fault
		want  error
	}{
		{"name taken", cloudflaretest.RouteTunnelCreate, cloudflaretest.Fault{Status: 409, Code: 1013, Message: "You already have a tunnel with this name"}, cloudflare.ErrNameConflict},
		{"other 409", cloudflaretest.RouteTunnelCreate, cloudflaretest.Fault{Status: 409, Code: 1001, Message: "conflict"}, cloudflare.ErrTransient},
		{"invalid body", cloudflaretest.RouteTunnelCreate, cloudflaretest.Fault{Status: 400, Code: 1001, Message: "invalid json"}, cloudflare.ErrInvalid},
		{"active connections", cloudflaretest.RouteTunnelDelete, cloudflaretest.Fault{Status: 400, Code: 1022, Message: "Cannot delete tunnel because it has active connections"}, cloudflare.ErrTransient},
		{"unknown tunnel", cloudflaretest.RouteTunnelGet, cloudflaretest.Fault{Status: 404, Code: 1003, Message: "Tunnel not found"}, cloudflare.ErrNotFound},
		{"no tunnel permission", cloudflaretest.RouteTunnelToken, cloudflaretest.Fault{Status: 403, Code: 10000, Message: "Authentication error"}, cloudflare.ErrUnauthorized},
		{"other 403", cloudflaretest.RouteTunnelGet, cloudflaretest.Fault{Status: 403, Code: 9109, Message: "Unauthorized to access requested resource"}, cloudflare.ErrForbidden},
		{"429", cloudflaretest.RouteTunnelList, cloudflaretest.Fault{Status: 429, Code: 971, Message: "Please wait and consider throttling your request speed"}, cloudflare.ErrRateLimited},
		{"500 on clean up", cloudflaretest.RouteTunnelConnectionsDelete, cloudflaretest.Fault{Status: 500, Code: 1002, Message: "Internal error"}, cloudflare.ErrTransient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t)
			id := api.srv.SeedTunnel(testAccount, "edge").ID
			api.srv.FailNext(tt.route, 1, tt.fault)
			err := tunnelCalls[tt.route](context.Background(), api.client(t), id)
			apiErr := assertKind(t, err, tt.want)
			if apiErr.StatusCode != tt.fault.Status || apiErr.Code != tt.fault.Code || apiErr.Message != tt.fault.Message {
				t.Errorf("APIError = %+v, want the fault %+v", apiErr, tt.fault)
			}
			if apiErr.RayID == "" || !strings.Contains(err.Error(), apiErr.RayID) {
				t.Errorf("error %q lacks the CF-Ray id", err)
			}
			if !strings.HasPrefix(apiErr.Path, "/client/v4/accounts/"+testAccount+"/cfd_tunnel") || strings.Contains(apiErr.Path, "?") {
				t.Errorf("Path = %q, want the tunnel path without query", apiErr.Path)
			}
		})
	}
}

// TestTunnelErrorsWithoutCode covers replies whose error entry lost its code (a proxy, a future
// API version): the tunnel messages still classify, and do not fall into the 5101 reading.
func TestTunnelErrorsWithoutCode(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		message string
		call    func(cloudflare.Client) error
		want    error
	}{
		{"name taken on 409", 409, "You already have a tunnel with this name. Delete the existing tunnel, or choose a different name for your new tunnel.",
			func(c cloudflare.Client) error {
				_, _, err := c.CreateTunnel(context.Background(), "edge", nil)
				return err
			}, cloudflare.ErrNameConflict},
		{"name taken on 400", 400, "You already have a tunnel with this name",
			func(c cloudflare.Client) error {
				_, _, err := c.CreateTunnel(context.Background(), "edge", nil)
				return err
			}, cloudflare.ErrNameConflict},
		{"active connections", 400, "Cannot delete tunnel because it has active connections",
			func(c cloudflare.Client) error { return c.DeleteTunnel(context.Background(), "x") }, cloudflare.ErrTransient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := staticAPI(t, tt.status, `{"success":false,"errors":[{"message":"`+tt.message+`"}],"messages":[],"result":null}`)
			_ = assertKind(t, tt.call(c), tt.want)
		})
	}
}

func TestTunnelCallsAreNotRetried(t *testing.T) {
	for route, call := range tunnelCalls {
		for _, fault := range []cloudflaretest.Fault{{Status: 500}, {Status: 503, HTML: true}, {Status: 429, RetryAfter: time.Second}, {Status: 409}} {
			t.Run(fmt.Sprintf("%s %d", route, fault.Status), func(t *testing.T) {
				api := newFakeAPI(t)
				id := api.srv.SeedTunnel(testAccount, "edge").ID
				api.srv.FailNext(route, 5, fault)
				if err := call(context.Background(), api.client(t), id); err == nil {
					t.Fatal("call succeeded, want the injected failure")
				}
				if n := api.srv.Count(route); n != 1 {
					t.Errorf("%s sent %d times, want exactly 1", route, n)
				}
			})
		}
	}
}

// TestTunnelCreateCommittedThenFailed is the lost reply: Cloudflare made the tunnel but the
// operator saw a 500. Finding it by name and reading its token proves it is ours (the secret
// is the one we chose), and a blind retry would have collided with it.
func TestTunnelCreateCommittedThenFailed(t *testing.T) {
	api := newFakeAPI(t)
	before := len(api.srv.Tunnels(testAccount))
	api.srv.FailNext(cloudflaretest.RouteTunnelCreate, 1, cloudflaretest.Fault{Status: 500, Commit: true})
	c := api.client(t)
	_, token, err := c.CreateTunnel(context.Background(), "edge", tunnelSecret)
	_ = assertKind(t, err, cloudflare.ErrTransient)
	if !token.IsZero() || api.srv.Count(cloudflaretest.RouteTunnelCreate) != 1 {
		t.Fatalf("token %v, %d create calls; want none and 1", token, api.srv.Count(cloudflaretest.RouteTunnelCreate))
	}
	found, err := c.FindTunnelByName(context.Background(), "edge")
	if err != nil {
		t.Fatalf("FindTunnelByName after a committed create: %v", err)
	}
	token, err = c.TunnelToken(context.Background(), found.ID)
	if id, secret, perr := token.Parse(); err != nil || perr != nil || id != found.ID || !bytes.Equal(secret, tunnelSecret) {
		t.Errorf("token of the found tunnel: %v, %v; want our secret", err, perr)
	}
	_, _, err = c.CreateTunnel(context.Background(), "edge", tunnelSecret)
	_ = assertKind(t, err, cloudflare.ErrNameConflict)
	if n := len(api.srv.Tunnels(testAccount)) - before; n != 1 {
		t.Errorf("%d tunnels made, want exactly 1", n)
	}
}

// connectorTokenFor builds a token for testTunnel the way Cloudflare does.
func connectorTokenFor(secret []byte) string {
	data, _ := json.Marshal(map[string]any{"a": testAccount, "t": testTunnel, "s": secret})
	return base64.StdEncoding.EncodeToString(data)
}

func TestTunnelSecretsNeverInErrors(t *testing.T) {
	api := newFakeAPI(t)
	other := api.srv.SeedTunnel(testAccount, "other")
	realToken := api.srv.TunnelTokenOf(testAccount, other.ID)
	crafted := connectorTokenFor(tunnelSecret)
	secrets := []string{
		string(tunnelSecret), realToken, crafted, hexOf(tunnelSecret),
		base64.StdEncoding.EncodeToString(tunnelSecret), base64.RawURLEncoding.EncodeToString(tunnelSecret),
	}
	echo := func(route cloudflaretest.Route, status int, msg string) func() {
		return func() { api.srv.FailNext(route, 1, cloudflaretest.Fault{Status: status, Code: 1001, Message: msg}) }
	}
	failures := []struct {
		name  string
		route cloudflaretest.Route
		setup func()
	}{
		{"secret echoed as base64", cloudflaretest.RouteTunnelCreate, echo(cloudflaretest.RouteTunnelCreate, 400, "bad tunnel_secret "+secrets[4])},
		{"secret echoed as base64url", cloudflaretest.RouteTunnelCreate, echo(cloudflaretest.RouteTunnelCreate, 400, "bad tunnel_secret "+secrets[5])},
		{"secret echoed raw and as hex", cloudflaretest.RouteTunnelCreate, echo(cloudflaretest.RouteTunnelCreate, 500, secrets[0]+" / "+secrets[3])},
		{"a token echoed", cloudflaretest.RouteTunnelCreate, echo(cloudflaretest.RouteTunnelCreate, 409, "token="+crafted+".")},
		{"committed then failed", cloudflaretest.RouteTunnelCreate, func() {
			api.srv.FailNext(cloudflaretest.RouteTunnelCreate, 1, cloudflaretest.Fault{Status: 500, Commit: true})
		}},
		{"HTML", cloudflaretest.RouteTunnelCreate, func() {
			api.srv.FailNext(cloudflaretest.RouteTunnelCreate, 1, cloudflaretest.Fault{Status: 502, HTML: true})
		}},
		{"timeout", cloudflaretest.RouteTunnelCreate, func() {
			api.srv.FailNext(cloudflaretest.RouteTunnelCreate, 1, cloudflaretest.Fault{Hang: 5 * time.Second})
		}},
		{"token endpoint echoes its token", cloudflaretest.RouteTunnelToken, echo(cloudflaretest.RouteTunnelToken, 500, "could not serve "+realToken)},
		{"a 200 that failed, echoing the token", cloudflaretest.RouteTunnelToken, echo(cloudflaretest.RouteTunnelToken, 200, realToken)},
		{"get echoes a token", cloudflaretest.RouteTunnelGet, echo(cloudflaretest.RouteTunnelGet, 404, "no "+realToken)},
	}
	for _, f := range failures {
		t.Run(f.name, func(t *testing.T) {
			f.setup()
			c := api.clientWith(t, cloudflare.Config{Credentials: tokenCreds, Timeout: 300 * time.Millisecond})
			err := tunnelCalls[f.route](context.Background(), c, other.ID)
			if err == nil {
				t.Fatal("call succeeded, want a failure")
			}
			texts := []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)}
			if apiErr, ok := errors.AsType[*cloudflare.APIError](err); ok {
				texts = append(texts, fmt.Sprintf("%+v", *apiErr), cloudflare.Cause(err))
				if apiErr.Code == 1001 && !strings.Contains(apiErr.Message, "[redacted]") {
					t.Errorf("the echoed secret was not redacted but dropped or kept: %q", apiErr.Message)
				}
			}
			for _, text := range texts {
				for _, secret := range secrets {
					if strings.Contains(text, secret) {
						t.Errorf("error text carries a secret: %q", text)
					}
				}
			}
		})
	}
}

func hexOf(b []byte) string { return fmt.Sprintf("%x", b) }

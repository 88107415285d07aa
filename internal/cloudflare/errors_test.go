package cloudflare_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/workersvpc/connectivity-operator/internal/cloudflare"
	"github.com/workersvpc/connectivity-operator/internal/cloudflare/cloudflaretest"
)

var sentinels = []error{
	cloudflare.ErrNotFound, cloudflare.ErrNameConflict, cloudflare.ErrTunnelNotFound, cloudflare.ErrInvalid,
	cloudflare.ErrUnauthorized, cloudflare.ErrForbidden, cloudflare.ErrRateLimited, cloudflare.ErrTransient,
}

// assertKind checks err is an *APIError that matches want and no other sentinel.
func assertKind(t *testing.T, err, want error) *cloudflare.APIError {
	t.Helper()
	var apiErr *cloudflare.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("error %v (%T) is not an *APIError", err, err)
	}
	for _, s := range sentinels {
		if got := errors.Is(err, s); got != (s == want) {
			t.Errorf("errors.Is(%v, %v) = %v, want %v", err, s, got, s == want)
		}
	}
	return apiErr
}

// calls of every route, so a fault can be aimed at any of them.
var routeCalls = map[cloudflaretest.Route]func(context.Context, cloudflare.Client, string) error{
	cloudflaretest.RouteList: func(ctx context.Context, c cloudflare.Client, _ string) error {
		_, err := c.List(ctx)
		return err
	},
	cloudflaretest.RouteCreate: func(ctx context.Context, c cloudflare.Client, _ string) error {
		_, err := c.Create(ctx, httpService("new"))
		return err
	},
	cloudflaretest.RouteGet: func(ctx context.Context, c cloudflare.Client, id string) error {
		_, err := c.Get(ctx, id)
		return err
	},
	cloudflaretest.RouteUpdate: func(ctx context.Context, c cloudflare.Client, id string) error {
		_, err := c.Update(ctx, id, httpService("web"))
		return err
	},
	cloudflaretest.RouteDelete: func(ctx context.Context, c cloudflare.Client, id string) error {
		return c.Delete(ctx, id)
	},
	cloudflaretest.RouteVerify: func(ctx context.Context, c cloudflare.Client, _ string) error {
		return c.Verify(ctx)
	},
}

func TestInjectedErrorsMapToSentinels(t *testing.T) {
	tests := []struct {
		name  string
		route cloudflaretest.Route
		fault cloudflaretest.Fault
		want  error
	}{
		{"404 5104", cloudflaretest.RouteGet, cloudflaretest.Fault{Status: 404, Code: 5104, Message: "service not found"}, cloudflare.ErrNotFound},
		{"5104 under another status", cloudflaretest.RouteUpdate, cloudflaretest.Fault{Status: 400, Code: 5104, Message: "not found"}, cloudflare.ErrNotFound},
		{"404 routing error is not not-found", cloudflaretest.RouteDelete, cloudflaretest.Fault{Status: 404, Code: 7003, Message: "Could not route"}, cloudflare.ErrInvalid},
		{"name taken", cloudflaretest.RouteCreate, cloudflaretest.Fault{Status: 400, Code: 5101, Message: `service with name "x" already exists`}, cloudflare.ErrNameConflict},
		{"tunnel unknown", cloudflaretest.RouteCreate, cloudflaretest.Fault{Status: 400, Code: 5101, Message: "Tunnel ID Not Found"}, cloudflare.ErrTunnelNotFound},
		{"tunnel unknown, lower case", cloudflaretest.RouteUpdate, cloudflaretest.Fault{Status: 400, Code: 5101, Message: "tunnel id not found"}, cloudflare.ErrTunnelNotFound},
		{"5101 other message", cloudflaretest.RouteCreate, cloudflaretest.Fault{Status: 400, Code: 5101, Message: "something else"}, cloudflare.ErrInvalid},
		{"invalid json mentioning tunnel", cloudflaretest.RouteCreate, cloudflaretest.Fault{Status: 400, Code: 5102, Message: "invalid json: missing tunnel_id"}, cloudflare.ErrInvalid},
		{"invalid json", cloudflaretest.RouteUpdate, cloudflaretest.Fault{Status: 400, Code: 5102, Message: "invalid json"}, cloudflare.ErrInvalid},
		{"other 4xx", cloudflaretest.RouteCreate, cloudflaretest.Fault{Status: 422}, cloudflare.ErrInvalid},
		{"401", cloudflaretest.RouteList, cloudflaretest.Fault{Status: 401, Code: 10000, Message: "Authentication error"}, cloudflare.ErrUnauthorized},
		{"403 10000", cloudflaretest.RouteGet, cloudflaretest.Fault{Status: 403, Code: 10000, Message: "Authentication error"}, cloudflare.ErrUnauthorized},
		{"403 10196", cloudflaretest.RouteDelete, cloudflaretest.Fault{Status: 403, Code: 10196, Message: "not authorized for the requested VPC resource"}, cloudflare.ErrForbidden},
		{"403 other code", cloudflaretest.RouteList, cloudflaretest.Fault{Status: 403, Code: 9109, Message: "Unauthorized to access requested resource"}, cloudflare.ErrForbidden},
		{"429", cloudflaretest.RouteList, cloudflaretest.Fault{Status: 429, Code: 971, Message: "Please wait and consider throttling your request speed"}, cloudflare.ErrRateLimited},
		{"500", cloudflaretest.RouteGet, cloudflaretest.Fault{Status: 500, Code: 10001, Message: "Internal error"}, cloudflare.ErrTransient},
		{"502 HTML", cloudflaretest.RouteCreate, cloudflaretest.Fault{Status: 502, HTML: true}, cloudflare.ErrTransient},
		{"503 empty errors array", cloudflaretest.RouteUpdate, cloudflaretest.Fault{Status: 503}, cloudflare.ErrTransient},
		{"404 HTML", cloudflaretest.RouteGet, cloudflaretest.Fault{Status: 404, HTML: true}, cloudflare.ErrNotFound},
		{"408", cloudflaretest.RouteDelete, cloudflaretest.Fault{Status: 408}, cloudflare.ErrTransient},
		{"409", cloudflaretest.RouteCreate, cloudflaretest.Fault{Status: 409, Code: 1001, Message: "conflict"}, cloudflare.ErrTransient},
		{"verify 5xx", cloudflaretest.RouteVerify, cloudflaretest.Fault{Status: 500}, cloudflare.ErrTransient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t)
			id := api.seedHTTP("web").ID
			api.srv.FailNext(tt.route, 1, tt.fault)
			err := routeCalls[tt.route](context.Background(), api.client(t), id)
			apiErr := assertKind(t, err, tt.want)
			if apiErr.StatusCode != tt.fault.Status {
				t.Errorf("StatusCode = %d, want %d", apiErr.StatusCode, tt.fault.Status)
			}
			if tt.fault.HTML || tt.fault.Code == 0 {
				if apiErr.Code != 0 || apiErr.Message != "" {
					t.Errorf("no envelope error, yet Code=%d Message=%q", apiErr.Code, apiErr.Message)
				}
			} else if apiErr.Code != tt.fault.Code || apiErr.Message != tt.fault.Message {
				t.Errorf("Code, Message = %d, %q; want %d, %q", apiErr.Code, apiErr.Message, tt.fault.Code, tt.fault.Message)
			}
			if apiErr.RayID == "" || !strings.Contains(err.Error(), apiErr.RayID) {
				t.Errorf("error %q lacks the CF-Ray id %q", err, apiErr.RayID)
			}
			if !strings.HasPrefix(apiErr.Path, "/client/v4/") || strings.ContainsAny(apiErr.Path, "?") {
				t.Errorf("Path = %q, want the URL path without query", apiErr.Path)
			}
			if strings.Contains(err.Error(), "<html>") {
				t.Errorf("error carries the HTML body: %q", err)
			}
		})
	}
}

func TestAPIErrorsMapToSentinels(t *testing.T) {
	tests := []struct {
		name string
		call func(ctx context.Context, api *fakeAPI, c cloudflare.Client) error
		want error
	}{
		{"name already used", func(ctx context.Context, api *fakeAPI, c cloudflare.Client) error {
			api.seedHTTP("web")
			_, err := c.Create(ctx, httpService("web"))
			return err
		}, cloudflare.ErrNameConflict},
		{"tunnel unknown", func(ctx context.Context, _ *fakeAPI, c cloudflare.Client) error {
			svc := httpService("web")
			svc.Host.Network.TunnelID = "00000000-0000-4000-8000-00000000dead"
			_, err := c.Create(ctx, svc)
			return err
		}, cloudflare.ErrTunnelNotFound},
		{"invalid body", func(ctx context.Context, _ *fakeAPI, c cloudflare.Client) error {
			svc := httpService("web")
			svc.Type = "udp"
			_, err := c.Create(ctx, svc)
			return err
		}, cloudflare.ErrInvalid},
		{"update missing", func(ctx context.Context, _ *fakeAPI, c cloudflare.Client) error {
			_, err := c.Update(ctx, "00000000-0000-4000-8000-000000000000", httpService("web"))
			return err
		}, cloudflare.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t)
			_ = assertKind(t, tt.call(context.Background(), api, api.client(t)), tt.want)
		})
	}
}

func TestRateLimitRetryAfter(t *testing.T) {
	tests := []struct {
		name  string
		setup func(srv *cloudflaretest.Server)
		calls int
		want  time.Duration
	}{
		{"injected with Retry-After", func(srv *cloudflaretest.Server) {
			srv.FailNext(cloudflaretest.RouteList, 1, cloudflaretest.Fault{Status: 429, Code: 971, RetryAfter: 7 * time.Second})
		}, 1, 7 * time.Second},
		{"injected without Retry-After", func(srv *cloudflaretest.Server) {
			srv.FailNext(cloudflaretest.RouteList, 1, cloudflaretest.Fault{Status: 429})
		}, 1, 0},
		{"budget spent", func(srv *cloudflaretest.Server) {
			srv.SetBudget(2, time.Minute, 300*time.Second)
		}, 3, 300 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t)
			tt.setup(api.srv)
			c := api.client(t)
			var err error
			for range tt.calls {
				_, err = c.List(context.Background())
			}
			_ = assertKind(t, err, cloudflare.ErrRateLimited)
			got, ok := cloudflare.RetryAfter(err)
			if got != tt.want || ok != (tt.want > 0) {
				t.Errorf("RetryAfter = %v, %v; want %v", got, ok, tt.want)
			}
		})
	}
}

func TestRetryAfterHTTPDate(t *testing.T) {
	when := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", when)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"success":false,"errors":[],"messages":[],"result":null}`))
	}))
	t.Cleanup(ts.Close)
	c, err := cloudflare.New(cloudflare.Config{BaseURL: ts.URL, AccountID: testAccount, Credentials: tokenCreds})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.List(context.Background())
	_ = assertKind(t, err, cloudflare.ErrRateLimited)
	if got, _ := cloudflare.RetryAfter(err); got < 80*time.Second || got > 91*time.Second {
		t.Errorf("RetryAfter = %v, want about 90s", got)
	}
}

func TestNoSDKRetries(t *testing.T) {
	tests := []struct {
		route cloudflaretest.Route
		fault cloudflaretest.Fault
	}{
		{cloudflaretest.RouteCreate, cloudflaretest.Fault{Status: 500}},
		{cloudflaretest.RouteCreate, cloudflaretest.Fault{Status: 503, HTML: true}},
		{cloudflaretest.RouteCreate, cloudflaretest.Fault{Status: 429, RetryAfter: time.Second}},
		{cloudflaretest.RouteCreate, cloudflaretest.Fault{Status: 408}},
		{cloudflaretest.RouteCreate, cloudflaretest.Fault{Status: 409}},
		{cloudflaretest.RouteList, cloudflaretest.Fault{Status: 502}},
		{cloudflaretest.RouteGet, cloudflaretest.Fault{Status: 500}},
		{cloudflaretest.RouteUpdate, cloudflaretest.Fault{Status: 503}},
		{cloudflaretest.RouteDelete, cloudflaretest.Fault{Status: 500}},
		{cloudflaretest.RouteVerify, cloudflaretest.Fault{Status: 429}},
	}
	for _, tt := range tests {
		t.Run(string(tt.route)+" "+http.StatusText(tt.fault.Status), func(t *testing.T) {
			api := newFakeAPI(t)
			id := api.seedHTTP("web").ID
			api.srv.FailNext(tt.route, 5, tt.fault)
			if err := routeCalls[tt.route](context.Background(), api.client(t), id); err == nil {
				t.Fatal("call succeeded, want the injected failure")
			}
			if n := api.srv.Count(tt.route); n != 1 {
				t.Errorf("%s sent %d times, want exactly 1", tt.route, n)
			}
		})
	}
}

func TestCreateCommittedThenFailed(t *testing.T) {
	api := newFakeAPI(t)
	api.srv.FailNext(cloudflaretest.RouteCreate, 1, cloudflaretest.Fault{Status: 500, Commit: true})
	c := api.client(t)
	_, err := c.Create(context.Background(), httpService("web"))
	_ = assertKind(t, err, cloudflare.ErrTransient)
	if n := api.srv.Count(cloudflaretest.RouteCreate); n != 1 {
		t.Fatalf("create sent %d times, want 1", n)
	}
	found, err := c.FindByName(context.Background(), "web")
	if err != nil || len(api.srv.Services(testAccount)) != 1 || found.ID != api.srv.Services(testAccount)[0].ID {
		t.Errorf("FindByName after a committed create = %v, %v; want the one service", found, err)
	}
}

func TestTimeoutsAndCancellation(t *testing.T) {
	tests := []struct {
		name      string
		timeout   time.Duration
		ctx       func() (context.Context, context.CancelFunc)
		wantCause error
	}{
		{"Config.Timeout passes", 200 * time.Millisecond, func() (context.Context, context.CancelFunc) {
			return context.WithCancel(context.Background())
		}, context.DeadlineExceeded},
		{"caller deadline passes", 10 * time.Second, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 200*time.Millisecond)
		}, context.DeadlineExceeded},
		{"caller cancels", 10 * time.Second, func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(200*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled},
	}
	for _, tt := range tests {
		for _, route := range []cloudflaretest.Route{cloudflaretest.RouteCreate, cloudflaretest.RouteGet} {
			t.Run(tt.name+" on "+string(route), func(t *testing.T) {
				api := newFakeAPI(t)
				id := api.seedHTTP("web").ID
				api.srv.FailNext(route, 1, cloudflaretest.Fault{Hang: 1500 * time.Millisecond})
				c := api.clientWith(t, cloudflare.Config{Credentials: tokenCreds, Timeout: tt.timeout})
				ctx, cancel := tt.ctx()
				defer cancel()
				start := time.Now()
				err := routeCalls[route](ctx, c, id)
				if elapsed := time.Since(start); elapsed > time.Second {
					t.Errorf("call took %v, want it cut off near 200ms", elapsed)
				}
				_ = assertKind(t, err, cloudflare.ErrTransient)
				if !errors.Is(err, tt.wantCause) {
					t.Errorf("error %v does not wrap %v", err, tt.wantCause)
				}
			})
		}
	}
}

func TestConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	c, err := cloudflare.New(cloudflare.Config{BaseURL: "http://" + addr + "/client/v4", AccountID: testAccount, Credentials: tokenCreds})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Get(context.Background(), "00000000-0000-4000-8000-000000000000")
	apiErr := assertKind(t, err, cloudflare.ErrTransient)
	if apiErr.StatusCode != 0 || apiErr.Method != http.MethodGet {
		t.Errorf("APIError = %+v, want GET with no status", apiErr)
	}
}

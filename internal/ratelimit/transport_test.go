package ratelimit_test

import (
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/workersvpc/connectivity-operator/internal/ratelimit"
)

const (
	testAccountID = "0123456789abcdef0123456789abcdef"
	servicesPath  = "/client/v4/accounts/" + testAccountID + "/connectivity/directory/services"
)

type call struct {
	accountID, method, route string
	status                   int
}

// recorder is a fake Observer that keeps everything it is told.
type recorder struct {
	mu      sync.Mutex
	waited  []string
	calls   []call
	tripped []string
	budgets []int
}

func (r *recorder) Waited(accountID string, _ time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.waited = append(r.waited, accountID)
}

func (r *recorder) Called(accountID, method, route string, status int, _ time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, call{accountID: accountID, method: method, route: route, status: status})
}

func (r *recorder) Tripped(accountID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tripped = append(r.tripped, accountID)
}

func (r *recorder) Budget(accountID string, perWindow int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if accountID == testAccountID {
		r.budgets = append(r.budgets, perWindow)
	}
}

func (r *recorder) snapshot() (waited int, calls []call, tripped int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.waited), append([]call(nil), r.calls...), len(r.tripped)
}

// fakeAPI answers every request with status and headers, and counts what reaches it.
type fakeAPI struct {
	srv      *httptest.Server
	requests atomic.Int32
	mu       sync.Mutex
	status   int
	header   http.Header
}

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	f := &fakeAPI{status: http.StatusOK}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		f.requests.Add(1)
		f.mu.Lock()
		status, header := f.status, f.header
		f.mu.Unlock()
		maps.Copy(w.Header(), header)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `{"success":true,"errors":[],"messages":[],"result":[]}`)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) answer(status int, header http.Header) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status, f.header = status, header
}

func newTransport(f *fakeAPI, obs ratelimit.Observer) (*ratelimit.Transport, *http.Client) {
	tr := &ratelimit.Transport{
		Base:      f.srv.Client().Transport,
		Limiter:   ratelimit.NewLimiter(twentyPerSecond, 10),
		AccountID: testAccountID,
		Observer:  obs,
	}
	return tr, &http.Client{Transport: tr}
}

func do(t *testing.T, c *http.Client, method, url string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, http.NoBody)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp
}

func TestTransportPassesCallsThrough(t *testing.T) {
	api := newFakeAPI(t)
	obs := &recorder{}
	tr, c := newTransport(api, obs)

	resp := do(t, c, http.MethodGet, api.srv.URL+servicesPath)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status = %d, want the server's 200", resp.StatusCode)
	}
	resp = do(t, c, http.MethodPost, api.srv.URL+servicesPath)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status = %d, want the server's 200", resp.StatusCode)
	}

	if got := api.requests.Load(); got != 2 {
		t.Errorf("server received %d requests, want 2", got)
	}
	waited, calls, tripped := obs.snapshot()
	if waited != 2 {
		t.Errorf("Waited recorded %d times, want once per call (2)", waited)
	}
	want := []call{
		{accountID: testAccountID, method: http.MethodGet, route: "list", status: http.StatusOK},
		{accountID: testAccountID, method: http.MethodPost, route: "create", status: http.StatusOK},
	}
	if len(calls) != len(want) {
		t.Fatalf("Called recorded %+v, want %+v", calls, want)
	}
	for i := range want {
		if calls[i] != want[i] {
			t.Errorf("Called #%d = %+v, want %+v", i, calls[i], want[i])
		}
	}
	if tripped != 0 {
		t.Errorf("Tripped recorded %d times after 200s, want 0", tripped)
	}
	if _, open := tr.Limiter.OpenUntil(); open {
		t.Error("circuit open after 200s")
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if want := []int{twentyPerSecond, twentyPerSecond}; !slices.Equal(obs.budgets, want) {
		t.Errorf("Budget recorded %v, want the limiter's calls per 5 minutes once per call %v", obs.budgets, want)
	}
}

func TestTransportWithoutObserver(t *testing.T) {
	api := newFakeAPI(t)
	api.answer(http.StatusTooManyRequests, http.Header{"Retry-After": {"60"}})
	tr, c := newTransport(api, nil)

	if resp := do(t, c, http.MethodGet, api.srv.URL+servicesPath); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("status = %d, want 429", resp.StatusCode)
	}
	if _, open := tr.Limiter.OpenUntil(); !open {
		t.Error("circuit closed after a 429, want it open also without an Observer")
	}
}

func TestTransportTripsOn429(t *testing.T) {
	tests := []struct {
		name       string
		retryAfter []string // nil: no header
		wantBlock  time.Duration
	}{
		{name: "retry-after seconds", retryAfter: []string{"120"}, wantBlock: 120 * time.Second},
		{name: "retry-after http date", retryAfter: []string{time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)}, wantBlock: 90 * time.Second},
		{name: "retry-after absent", retryAfter: nil, wantBlock: ratelimit.DefaultBlock},
		{name: "retry-after unreadable", retryAfter: []string{"soon"}, wantBlock: ratelimit.DefaultBlock},
		{name: "retry-after date in the past", retryAfter: []string{time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)}, wantBlock: ratelimit.DefaultBlock},
		// Retry-After: 0 is valid HTTP ("retry now") but is read as unreadable: a full block.
		{name: "retry-after zero", retryAfter: []string{"0"}, wantBlock: ratelimit.DefaultBlock},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t)
			header := http.Header{}
			if tt.retryAfter != nil {
				header["Retry-After"] = tt.retryAfter
			}
			api.answer(http.StatusTooManyRequests, header)
			obs := &recorder{}
			tr, c := newTransport(api, obs)

			before := time.Now()
			resp := do(t, c, http.MethodPut, api.srv.URL+servicesPath+"/svc-1")
			after := time.Now()

			if resp.StatusCode != http.StatusTooManyRequests {
				t.Errorf("status = %d, want the server's 429", resp.StatusCode)
			}
			until, open := tr.Limiter.OpenUntil()
			if !open {
				t.Fatal("circuit closed after a 429, want it open")
			}
			// An HTTP date has one-second resolution.
			lo, hi := before.Add(tt.wantBlock-time.Second), after.Add(tt.wantBlock+time.Second)
			if until.Before(lo) || until.After(hi) {
				t.Errorf("circuit open until %v from the call, want about %v", until.Sub(before), tt.wantBlock)
			}
			_, calls, tripped := obs.snapshot()
			if tripped != 1 {
				t.Errorf("Tripped recorded %d times, want 1", tripped)
			}
			if len(calls) != 1 || calls[0].status != http.StatusTooManyRequests || calls[0].route != "update" {
				t.Errorf("Called recorded %+v, want one update with status 429", calls)
			}
		})
	}
}

func TestTransportHoldsCallsWhileOpen(t *testing.T) {
	api := newFakeAPI(t)
	api.answer(http.StatusTooManyRequests, http.Header{"Retry-After": {"120"}})
	obs := &recorder{}
	_, c := newTransport(api, obs)

	do(t, c, http.MethodGet, api.srv.URL+servicesPath)
	if got := api.requests.Load(); got != 1 {
		t.Fatalf("server received %d requests, want the 1 that tripped the circuit", got)
	}

	// Cloudflare would answer now, but no call may go out until the block ends.
	api.answer(http.StatusOK, nil)
	for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
		resp := do(t, c, method, api.srv.URL+servicesPath)
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Errorf("%s while open: status = %d, want a local 429", method, resp.StatusCode)
		}
		secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if err != nil || secs < 118 || secs > 120 {
			t.Errorf("%s while open: Retry-After = %q, want the seconds left of the block (~120)", method, resp.Header.Get("Retry-After"))
		}
	}

	if got := api.requests.Load(); got != 1 {
		t.Errorf("server received %d requests, want none beyond the one that tripped the circuit", got)
	}
	waited, calls, tripped := obs.snapshot()
	if len(calls) != 1 || waited != 1 {
		t.Errorf("Observer saw %d calls and %d waits, want only the first call: held calls are not API calls", len(calls), waited)
	}
	if tripped != 1 {
		t.Errorf("Tripped recorded %d times, want 1: local 429s must not trip again", tripped)
	}
}

func TestTransportFollowsTheLimitersCircuit(t *testing.T) {
	tests := []struct {
		name       string
		tripUntil  time.Duration // from now; 0: never tripped
		wantStatus int
		wantSent   int32
	}{
		{name: "closed", tripUntil: 0, wantStatus: http.StatusOK, wantSent: 1},
		{name: "open", tripUntil: 10 * time.Second, wantStatus: http.StatusTooManyRequests, wantSent: 0},
		{name: "closed again after the block", tripUntil: -time.Second, wantStatus: http.StatusOK, wantSent: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t)
			tr, c := newTransport(api, &recorder{})
			if tt.tripUntil != 0 {
				tr.Limiter.Trip(time.Now().Add(tt.tripUntil))
			}

			resp := do(t, c, http.MethodGet, api.srv.URL+servicesPath)
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
				t.Error("local 429 has no Retry-After")
			}
			if got := api.requests.Load(); got != tt.wantSent {
				t.Errorf("server received %d requests, want %d", got, tt.wantSent)
			}
		})
	}
}

func TestRoute(t *testing.T) {
	const base = "/client/v4/accounts/" + testAccountID
	tests := []struct {
		name, method, path, want string
	}{
		{"list", http.MethodGet, base + "/connectivity/directory/services", "list"},
		{"create", http.MethodPost, base + "/connectivity/directory/services", "create"},
		{"get", http.MethodGet, base + "/connectivity/directory/services/svc-1", "get"},
		{"update", http.MethodPut, base + "/connectivity/directory/services/svc-1", "update"},
		{"delete", http.MethodDelete, base + "/connectivity/directory/services/svc-1", "delete"},
		{"verify user token", http.MethodGet, "/client/v4/user/tokens/verify", "verify"},
		{"verify account token", http.MethodGet, base + "/tokens/verify", "verify"},
		{"tunnel list", http.MethodGet, base + "/cfd_tunnel", "tunnel-list"},
		{"tunnel create", http.MethodPost, base + "/cfd_tunnel", "tunnel-create"},
		{"tunnel get", http.MethodGet, base + "/cfd_tunnel/t-1", "tunnel-get"},
		{"tunnel delete", http.MethodDelete, base + "/cfd_tunnel/t-1", "tunnel-delete"},
		{"tunnel token", http.MethodGet, base + "/cfd_tunnel/t-1/token", "tunnel-token"},
		{"tunnel connections", http.MethodDelete, base + "/cfd_tunnel/t-1/connections", "tunnel-connections-delete"},
		{"another API", http.MethodGet, base + "/workers/scripts", "other"},
		{"root", http.MethodGet, "/", "other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ratelimit.Route(tt.method, tt.path); got != tt.want {
				t.Errorf("Route(%q, %q) = %q, want %q", tt.method, tt.path, got, tt.want)
			}
		})
	}
}

package cloudflaretest

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestFaults(t *testing.T) {
	tests := []struct {
		name           string
		route          Route
		method, path   string
		body           string
		fault          Fault
		wantStatus     int
		wantCode       int
		wantRetryAfter string
		wantHTML       bool
	}{
		{"500 without code", RouteList, "GET", servicesURL, "", Fault{Status: 500}, 500, 0, "", false},
		{"zero status means 500", RouteGet, "GET", servicesURL + "/x", "", Fault{Code: 10001, Message: "boom"}, 500, 10001, "", false},
		{"429 with Retry-After rounded up", RouteCreate, "POST", servicesURL, tcpBody("a"),
			Fault{Status: 429, Code: 971, Message: "Please wait and consider throttling your request speed", RetryAfter: 1500 * time.Millisecond},
			429, 971, "2", false},
		{"HTML 502 from the edge", RouteUpdate, "PUT", servicesURL + "/x", tcpBody("a"), Fault{Status: 502, HTML: true}, 502, 0, "", true},
		{"403 of a fresh token", RouteDelete, "DELETE", servicesURL + "/x", "", Fault{Status: 403, Code: 10000, Message: "Authentication error"}, 403, 10000, "", false},
		{"verify", RouteVerify, "GET", "/client/v4/user/tokens/verify", "", Fault{Status: 503}, 503, 0, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.fake.FailNext(tt.route, 2, tt.fault)

			// Bad credentials neither get nor consume the fault.
			if r := f.call(t, tt.method, tt.path, tt.body, bearer("tok-unknown")); r.status != http.StatusUnauthorized {
				t.Fatalf("unauthenticated call: %d", r.status)
			}
			for i := range 2 {
				r := f.call(t, tt.method, tt.path, tt.body, bearer(userToken))
				if r.status != tt.wantStatus || r.code() != tt.wantCode {
					t.Fatalf("call %d: %d code %d, want %d code %d: %s", i, r.status, r.code(), tt.wantStatus, tt.wantCode, r.raw)
				}
				if got := r.header.Get("Retry-After"); got != tt.wantRetryAfter {
					t.Errorf("Retry-After = %q, want %q", got, tt.wantRetryAfter)
				}
				isHTML := strings.HasPrefix(r.header.Get("Content-Type"), "text/html") && strings.HasPrefix(r.raw, "<html>")
				if isHTML != tt.wantHTML {
					t.Errorf("HTML = %v, want %v: %s", isHTML, tt.wantHTML, r.raw)
				}
				if !tt.wantHTML {
					assertEnvelope(t, r)
					if tt.wantCode == 0 && !strings.Contains(r.raw, `"errors":[]`) {
						t.Errorf("code 0 must give an empty errors array: %s", r.raw)
					}
				}
			}
			// The third call is served normally.
			if r := f.call(t, tt.method, tt.path, tt.body, bearer(userToken)); r.status == tt.wantStatus {
				t.Errorf("fault applied more than n times: %d", r.status)
			}
			// Nothing was committed.
			if n := len(f.fake.Services(acct)); tt.route == RouteCreate && n != 1 {
				t.Errorf("%d services after 2 faulted creates and 1 real one", n)
			}
		})
	}
}

func TestFaultsQueueAndClear(t *testing.T) {
	f := newFixture(t)
	f.fake.FailNext(RouteList, 1, Fault{Status: 500})
	f.fake.FailNext(RouteList, 1, Fault{Status: 503})
	f.fake.FailNext(RouteGet, 1, Fault{Status: 500})
	for _, want := range []int{500, 503, 200} {
		if r := f.call(t, "GET", servicesURL, "", bearer(userToken)); r.status != want {
			t.Errorf("status %d, want %d", r.status, want)
		}
	}
	f.fake.ClearFaults()
	if r := f.call(t, "GET", servicesURL+"/x", "", bearer(userToken)); r.status != http.StatusNotFound {
		t.Errorf("cleared fault still applied: %d", r.status)
	}
}

func TestCommitThenFail(t *testing.T) {
	f := newFixture(t)
	f.fake.FailNext(RouteCreate, 1, Fault{Status: 500, Commit: true})
	if r := f.call(t, "POST", servicesURL, tcpBody("db"), bearer(userToken)); r.status != 500 {
		t.Fatalf("create: %d", r.status)
	}
	list := f.fake.Services(acct)
	if len(list) != 1 || list[0].Name != "db" {
		t.Fatalf("the failed create must have committed: %+v", list)
	}
	// The retried POST collides with its own first attempt.
	if r := f.call(t, "POST", servicesURL, tcpBody("db"), bearer(userToken)); r.code() != 5101 {
		t.Errorf("retry: %d code %d", r.status, r.code())
	}

	id := list[0].ID
	f.fake.FailNext(RouteUpdate, 1, Fault{Status: 502, HTML: true, Commit: true})
	if r := f.call(t, "PUT", servicesURL+"/"+id, tcpBody("db2"), bearer(userToken)); r.status != 502 {
		t.Fatalf("update: %d", r.status)
	}
	if svc, _ := f.fake.Service(acct, id); svc.Name != "db2" {
		t.Errorf("the failed update must have committed: %+v", svc)
	}

	f.fake.FailNext(RouteDelete, 1, Fault{Status: 504, Commit: true})
	if r := f.call(t, "DELETE", servicesURL+"/"+id, "", bearer(userToken)); r.status != 504 {
		t.Fatalf("delete: %d", r.status)
	}
	if _, ok := f.fake.Service(acct, id); ok {
		t.Error("the failed delete must have committed")
	}
}

// TestHangRespectsClientCancellation checks that a hanging call ends as soon as the client gives
// up, whatever the method (a request body must not stop the fake noticing), so test servers
// close promptly.
func TestHangRespectsClientCancellation(t *testing.T) {
	tests := []struct {
		name         string
		route        Route
		method, path string
		body         string
		fault        Fault
		latency      time.Duration
		wantServices int
	}{
		{"commit then hang", RouteCreate, "POST", servicesURL, tcpBody("db"), Fault{Status: 504, Commit: true, Hang: time.Minute}, 0, 1},
		{"hang on create", RouteCreate, "POST", servicesURL, tcpBody("db"), Fault{Status: 504, Hang: time.Minute}, 0, 0},
		{"hang on update", RouteUpdate, "PUT", servicesURL + "/x", tcpBody("db"), Fault{Hang: time.Minute}, 0, 0},
		{"hang on list", RouteList, "GET", servicesURL, "", Fault{Hang: time.Minute}, 0, 0},
		{"latency on create", RouteCreate, "POST", servicesURL, tcpBody("db"), Fault{}, time.Minute, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			if tt.fault != (Fault{}) {
				f.fake.FailNext(tt.route, 1, tt.fault)
			}
			f.fake.SetLatency(tt.latency)
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()

			start := time.Now()
			if _, err := f.callCtx(ctx, tt.method, tt.path, tt.body, bearer(userToken)); err == nil {
				t.Fatal("the call should have timed out")
			}
			// The handler returns promptly once the client gives up and logs 499.
			for f.fake.Requests()[0].Status != statusClientClosed {
				if time.Since(start) > 2*time.Second {
					t.Fatalf("handler still running: %+v", f.fake.Requests())
				}
				time.Sleep(5 * time.Millisecond)
			}
			if n := len(f.fake.Services(acct)); n != tt.wantServices {
				t.Errorf("%d services, want %d", n, tt.wantServices)
			}
		})
	}
}

func TestHangWithoutCommitThenAnswers(t *testing.T) {
	f := newFixture(t)
	f.fake.FailNext(RouteCreate, 1, Fault{Status: 503, Hang: 80 * time.Millisecond})
	start := time.Now()
	r := f.call(t, "POST", servicesURL, tcpBody("db"), bearer(userToken))
	if r.status != 503 || time.Since(start) < 80*time.Millisecond {
		t.Errorf("got %d after %v, want 503 after at least 80ms", r.status, time.Since(start))
	}
	if len(f.fake.Services(acct)) != 0 {
		t.Error("a fault without Commit must not change state")
	}
}

func TestLatency(t *testing.T) {
	f := newFixture(t)
	f.fake.SetLatency(60 * time.Millisecond)
	start := time.Now()
	f.call(t, "GET", servicesURL, "", nil)
	if d := time.Since(start); d < 60*time.Millisecond {
		t.Errorf("call took %v, want at least the latency", d)
	}
	f.fake.SetLatency(0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	f.fake.SetLatency(time.Minute)
	if _, err := f.callCtx(ctx, "GET", servicesURL, "", bearer(userToken)); err == nil {
		t.Error("a call slower than the client's timeout should fail")
	}
}

func TestBudgetBlocksAfterGoingOver(t *testing.T) {
	f := newFixture(t)
	f.fake.SetBudget(3, 200*time.Millisecond, 500*time.Millisecond)
	user := bearer(userToken)
	for i := range 3 {
		if r := f.call(t, "GET", servicesURL, "", user); r.status != 200 {
			t.Fatalf("call %d within budget: %d", i, r.status)
		}
	}
	over := f.call(t, "GET", servicesURL+"/x", "", user)
	if over.status != 429 || over.header.Get("Retry-After") != "1" ||
		!strings.Contains(over.message(), "Please wait and consider throttling your request speed") {
		t.Fatalf("going over: %d Retry-After %q: %s", over.status, over.header.Get("Retry-After"), over.raw)
	}
	assertEnvelope(t, over)

	// The window has passed but the block has not: every call of this credential still fails,
	// on every route, and other credentials are unaffected.
	time.Sleep(250 * time.Millisecond)
	if r := f.call(t, "GET", "/client/v4/user/tokens/verify", "", user); r.status != 429 || r.header.Get("Retry-After") == "" {
		t.Errorf("blocked call: %d Retry-After %q", r.status, r.header.Get("Retry-After"))
	}
	if r := f.call(t, "GET", servicesURL, "", legacy(legacyEmail, legacyKey)); r.status != 200 {
		t.Errorf("another credential: %d", r.status)
	}
	time.Sleep(300 * time.Millisecond)
	if r := f.call(t, "GET", servicesURL, "", user); r.status != 200 {
		t.Errorf("after the block: %d", r.status)
	}
	if got := statuses(f.fake.Requests()); got != "200 200 200 429 429 200 200" {
		t.Errorf("logged statuses %s", got)
	}
}

func TestBudgetWindowSlides(t *testing.T) {
	f := newFixture(t)
	f.fake.SetBudget(2, 300*time.Millisecond, time.Minute)
	user := bearer(userToken)
	f.call(t, "GET", servicesURL, "", user) // t=0
	time.Sleep(200 * time.Millisecond)
	f.call(t, "GET", servicesURL, "", user) // t=200ms
	time.Sleep(150 * time.Millisecond)
	// t=350ms: the first call has left the window, the second has not. A fixed window starting
	// at t=0 would allow two calls here; a sliding one allows one.
	if r := f.call(t, "GET", servicesURL, "", user); r.status != 200 {
		t.Fatalf("third call: %d", r.status)
	}
	r := f.call(t, "GET", servicesURL, "", user)
	if r.status != 429 || r.header.Get("Retry-After") != "60" {
		t.Errorf("fourth call: %d Retry-After %q", r.status, r.header.Get("Retry-After"))
	}
	f.fake.SetBudget(0, 0, 0)
	if r := f.call(t, "GET", servicesURL, "", user); r.status != 200 {
		t.Errorf("disabled budget: %d", r.status)
	}
}

func TestBudgetUnauthenticatedCallsDoNotCount(t *testing.T) {
	f := newFixture(t)
	f.fake.SetBudget(1, time.Minute, time.Minute)
	for range 3 {
		f.call(t, "GET", servicesURL, "", bearer("tok-unknown"))
	}
	if r := f.call(t, "GET", servicesURL, "", bearer(userToken)); r.status != 200 {
		t.Errorf("first call of a known credential: %d", r.status)
	}
}

// statuses lists the logged statuses, space-separated.
func statuses(log []Request) string {
	out := make([]string, len(log))
	for i, r := range log {
		out[i] = strconv.Itoa(r.Status)
	}
	return strings.Join(out, " ")
}

func TestBlockOneCredential(t *testing.T) {
	f := newFixture(t)
	f.fake.Block(userToken, 300*time.Millisecond)
	user := bearer(userToken)
	// Every route of the blocked token answers 429 with the time left, without a budget.
	r := f.call(t, "GET", servicesURL, "", user)
	if r.status != 429 || r.header.Get("Retry-After") != "1" {
		t.Fatalf("blocked list: %d Retry-After %q: %s", r.status, r.header.Get("Retry-After"), r.raw)
	}
	assertEnvelope(t, r)
	if r := f.call(t, "GET", "/client/v4/user/tokens/verify", "", user); r.status != 429 {
		t.Errorf("blocked verify: %d", r.status)
	}
	// Other credentials are unaffected.
	if r := f.call(t, "GET", servicesURL, "", legacy(legacyEmail, legacyKey)); r.status != 200 {
		t.Errorf("another credential: %d", r.status)
	}
	time.Sleep(350 * time.Millisecond)
	if r := f.call(t, "GET", servicesURL, "", user); r.status != 200 {
		t.Errorf("after the block: %d", r.status)
	}
	f.fake.Block("tok-unknown", time.Minute) // ignored
	if r := f.call(t, "GET", servicesURL, "", user); r.status != 200 {
		t.Errorf("blocking an unknown token blocked a known one: %d", r.status)
	}
}

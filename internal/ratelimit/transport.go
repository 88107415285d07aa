package ratelimit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Observer receives what the transport measures; the metrics package implements it.
type Observer interface {
	// Waited records time spent waiting for the budget.
	Waited(accountID string, d time.Duration)
	// Called records one API call that went out (status 0 when no response arrived).
	Called(accountID, method, route string, status int, d time.Duration)
	// Tripped records a 429 that opened the circuit.
	Tripped(accountID string)
	// Budget records, before each call, the calls per BudgetWindow the credential's budget allows,
	// so alerts can compare what an account spends with what it may spend.
	Budget(accountID string, perWindow int)
}

// Transport spends the credential's budget on every call and holds every call while the circuit
// is open. It wraps the HTTP client of one account's Cloudflare client.
type Transport struct {
	// Base carries the calls; nil means http.DefaultTransport.
	Base http.RoundTripper
	// Limiter is the credential's budget.
	Limiter *Limiter
	// AccountID labels the measurements; never anything secret.
	AccountID string
	// Observer receives measurements; may be nil.
	Observer Observer
}

// RoundTrip sends req when the budget allows. While the circuit is open it answers a local 429
// with Retry-After instead, so the caller waits as it would for Cloudflare's own 429 and no call
// of the credential goes out.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.Observer != nil {
		t.Observer.Budget(t.AccountID, t.Limiter.PerWindow())
	}
	if until, open := t.Limiter.OpenUntil(); open {
		return circuitOpen(req, until), nil
	}
	waited, err := t.Limiter.Wait(req.Context())
	if t.Observer != nil {
		t.Observer.Waited(t.AccountID, waited)
	}
	if tooLong, ok := errors.AsType[*WaitTooLongError](err); ok {
		return localRateLimit(req, CodeBudgetWait, time.Now().Add(tooLong.Wait),
			"not sent: this credential's API budget (--cloudflare-requests-per-5m or spec.rateLimit) has no room yet"), nil
	}
	if err != nil {
		closeBody(req)
		return nil, err
	}
	if until, open := t.Limiter.OpenUntil(); open {
		return circuitOpen(req, until), nil
	}
	start := time.Now()
	resp, err := t.base().RoundTrip(req)
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	if t.Observer != nil {
		t.Observer.Called(t.AccountID, req.Method, Route(req.Method, req.URL.Path), status, time.Since(start))
	}
	if status == http.StatusTooManyRequests {
		t.Limiter.Trip(time.Now().Add(retryAfter(resp.Header.Get("Retry-After"))))
		if t.Observer != nil {
			t.Observer.Tripped(t.AccountID)
		}
	}
	return resp, err
}

func (t *Transport) base() http.RoundTripper {
	if t.Base != nil {
		return t.Base
	}
	return http.DefaultTransport
}

// retryAfter reads Retry-After in seconds; absent or unreadable means Cloudflare's 5-minute block.
func retryAfter(v string) time.Duration {
	if secs, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && secs > 0 {
		return time.Duration(secs) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil && time.Until(at) > 0 {
		return time.Until(at)
	}
	return DefaultBlock
}

// closeBody honours the RoundTripper contract when a request is answered without being sent.
func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// Codes of the local 429 answers, so callers can tell them from Cloudflare's own.
const (
	// CodeCircuitOpen: Cloudflare answered 429 and the credential's calls are held.
	CodeCircuitOpen = 971
	// CodeBudgetWait: the operator's own budget for the credential has no room yet.
	CodeBudgetWait = 972
)

// circuitOpen is the local answer while the circuit is open: a 429 in Cloudflare's envelope.
func circuitOpen(req *http.Request, until time.Time) *http.Response {
	return localRateLimit(req, CodeCircuitOpen, until, "not sent: this credential is rate limited by Cloudflare")
}

// localRateLimit answers a call that was not sent with a 429 in Cloudflare's envelope, with a
// Retry-After of the time until it may go out.
func localRateLimit(req *http.Request, code int, until time.Time, message string) *http.Response {
	closeBody(req)
	secs := int(math.Ceil(time.Until(until).Seconds()))
	body := fmt.Sprintf(`{"success":false,"errors":[{"code":%d,"message":%q}],"messages":[],"result":null}`, code, message)
	return &http.Response{
		StatusCode:    http.StatusTooManyRequests,
		Status:        "429 Too Many Requests",
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"application/json"}, "Retry-After": {strconv.Itoa(max(secs, 1))}},
		Body:          io.NopCloser(bytes.NewBufferString(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
}

// Route names the API call a request makes, for metrics: list, create, get, update, delete or
// verify for services, the same prefixed with "tunnel-" for tunnels, and tunnel-token and
// tunnel-connections-delete.
func Route(method, path string) string {
	if _, rest, ok := strings.Cut(path, "/cfd_tunnel"); ok {
		return tunnelRoute(method, rest)
	}
	switch {
	case strings.HasSuffix(path, "/tokens/verify"):
		return "verify"
	case strings.HasSuffix(path, "/connectivity/directory/services"):
		if method == http.MethodPost {
			return "create"
		}
		return "list"
	case strings.Contains(path, "/connectivity/directory/services/"):
		switch method {
		case http.MethodPut:
			return "update"
		case http.MethodDelete:
			return "delete"
		}
		return "get"
	}
	return "other"
}

// tunnelRoute names a call below /cfd_tunnel; rest is the path after it.
func tunnelRoute(method, rest string) string {
	switch {
	case rest == "" && method == http.MethodPost:
		return "tunnel-create"
	case rest == "":
		return "tunnel-list"
	case strings.HasSuffix(rest, "/token"):
		return "tunnel-token"
	case strings.HasSuffix(rest, "/connections"):
		return "tunnel-connections-delete"
	case method == http.MethodDelete:
		return "tunnel-delete"
	}
	return "tunnel-get"
}

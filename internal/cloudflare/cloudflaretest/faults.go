package cloudflaretest

import (
	"net/http"
	"slices"
	"time"
)

// Fault is a failure to inject into a route, for the outcomes the live API produces but a test
// cannot otherwise provoke: 5xx, 429, edge HTML pages, a POST that succeeded but answered an
// error, and calls that hang until the client gives up.
type Fault struct {
	// Status is the HTTP status to answer; zero means 500.
	Status int
	// Code is the error code in the envelope; 0 means none (an empty errors array).
	Code int
	// Message goes with Code; empty means the status text.
	Message string
	// RetryAfter sets Retry-After (whole seconds, rounded up) when > 0.
	RetryAfter time.Duration
	// HTML answers an HTML body, like an edge 502, instead of the JSON envelope.
	HTML bool
	// Commit applies the call's change (create, update, delete) first, then fails:
	// "commit-then-fail", the reason a timed-out POST may have created the service.
	Commit bool
	// Hang waits this long (after committing, if Commit) or until the client gives up, then
	// answers.
	Hang time.Duration
}

// pendingFault is a Fault with the number of calls it still applies to.
type pendingFault struct {
	left  int
	fault Fault
}

// budget is the per-credential rate limit set by SetBudget.
type budget struct {
	limit         int
	window, block time.Duration
}

// usage is one credential's admitted calls in the window and the end of its block.
type usage struct {
	calls        []time.Time
	blockedUntil time.Time
}

// FailNext makes the next n calls of route (in any account) answer f. Faults queued for the same
// route apply one after the other. They strike after authentication, so a call with bad
// credentials neither gets nor consumes one.
func (s *Server) FailNext(route Route, n int, f Fault) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[route] = append(s.faults[route], pendingFault{left: n, fault: f})
}

// ClearFaults drops every pending fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = map[Route][]pendingFault{}
}

// SetLatency adds d to every call, to make timeouts and concurrency observable.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// SetBudget emulates the live rate limit: each credential may make at most limit calls per
// sliding window. The call that goes over answers 429 with Retry-After = block, and every call of
// that credential answers 429 until block has passed. Rejected calls do not count against the
// window. With block <= 0 only the calls over the limit are rejected. limit <= 0 disables the
// budget. Setting a budget forgets the calls counted so far.
func (s *Server) SetBudget(limit int, window, block time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.budget = budget{limit: limit, window: window, block: block}
	s.usage = map[string]*usage{}
}

// Block makes every call of the credential with this token or key answer 429 for d, with
// Retry-After the time left, as the live API answers a token it has blocked; other credentials
// are unaffected. It needs no budget, so a test can block one token of several while the
// others run freely. SetBudget forgets the block. Unknown credentials are ignored.
func (s *Server) Block(tokenOrKey string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.creds {
		if tokenOrKey != "" && (c.Token == tokenOrKey || c.Key == tokenOrKey) {
			s.usageOf(c.label).blockedUntil = time.Now().Add(d)
		}
	}
}

// usageOf returns the credential's usage, creating it on first use. The caller holds s.mu.
func (s *Server) usageOf(label string) *usage {
	u := s.usage[label]
	if u == nil {
		u = &usage{}
		s.usage[label] = u
	}
	return u
}

// takeFault consumes the next fault queued for route, if any.
func (s *Server) takeFault(route Route) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	queue := s.faults[route]
	if len(queue) == 0 {
		return Fault{}, false
	}
	f := queue[0].fault
	queue[0].left--
	if queue[0].left == 0 {
		s.faults[route] = queue[1:]
	}
	return f, true
}

// spend counts the call against its credential's budget, or answers 429 while the credential is
// blocked (by going over its budget, or by Block).
func (s *Server) spend(_ *http.Request, c *call) *response {
	if c.cred == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.usageOf(c.cred.label)
	now := time.Now()
	if now.Before(u.blockedUntil) {
		return rateLimited(u.blockedUntil.Sub(now))
	}
	if s.budget.limit <= 0 {
		return nil
	}
	cutoff := now.Add(-s.budget.window)
	first, _ := slices.BinarySearchFunc(u.calls, cutoff, func(t, cut time.Time) int {
		if t.After(cut) {
			return 1
		}
		return -1
	})
	u.calls = u.calls[first:]
	if len(u.calls) < s.budget.limit {
		u.calls = append(u.calls, now)
		return nil
	}
	if s.budget.block <= 0 {
		return rateLimited(u.calls[0].Sub(cutoff))
	}
	u.blockedUntil = now.Add(s.budget.block)
	return rateLimited(s.budget.block)
}

// response is the reply a fault stands for.
func (f Fault) response() response {
	status := f.Status
	if status == 0 {
		status = http.StatusInternalServerError
	}
	if f.HTML {
		return response{status: status, html: true, retryAfter: f.RetryAfter}
	}
	msg := f.Message
	if msg == "" {
		msg = http.StatusText(status)
	}
	res := fail(status, f.Code, msg)
	res.retryAfter = f.RetryAfter
	return res
}

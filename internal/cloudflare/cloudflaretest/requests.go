package cloudflaretest

import (
	"net/http"
	"time"
)

// Request is one logged API call, so tests can assert how many calls the operator made, in
// which order, with which outcome. It never holds a secret: Credential is a label.
type Request struct {
	// Time is when the call arrived.
	Time time.Time `json:"time"`
	// Method and Path are as sent; Query is the raw query string.
	Method string `json:"method"`
	Path   string `json:"path"`
	Query  string `json:"query,omitempty"`
	// Route is the call; empty when the path matched no route.
	Route Route `json:"route"`
	// AccountID is the account in the path; empty for /user/tokens/verify.
	AccountID string `json:"account_id,omitempty"`
	// Status is the HTTP status answered: 0 while the call is in flight, 499 when the client
	// gave up first.
	Status int `json:"status"`
	// Credential is a non-secret label ("token#1", "key#2"); "unknown" when the credential
	// presented was not recognised, empty when none was presented.
	Credential string `json:"credential,omitempty"`
}

// Requests returns a copy of the log, in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.log))
	for i, r := range s.log {
		out[i] = *r
	}
	return out
}

// Count returns how many calls of route were made, in all accounts, since the last reset.
func (s *Server) Count(route Route) int {
	return s.CountFor("", route)
}

// CountFor returns how many calls of route were made in the account since the last reset; an
// empty accountID counts all accounts.
func (s *Server) CountFor(accountID string, route Route) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.log {
		if r.Route == route && (accountID == "" || r.AccountID == accountID) {
			n++
		}
	}
	return n
}

// CountWith returns how many calls of route were made with the API token, in any account, since
// the last reset: for calls outside accounts, such as /user/tokens/verify, when other tests'
// credentials call too.
func (s *Server) CountWith(token string, route Route) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	label := ""
	for _, c := range s.creds {
		if c.Token == token {
			label = c.label
		}
	}
	n := 0
	for _, r := range s.log {
		if r.Route == route && label != "" && r.Credential == label {
			n++
		}
	}
	return n
}

// ResetRequests empties the log and so the counters, e.g. after a test's setup.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = nil
}

// logArrival records the call as it arrives; logStatus completes the entry.
func (s *Server) logArrival(r *http.Request, c call) *Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	entry := &Request{
		Time: time.Now(), Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
		Route: c.route, AccountID: c.account,
	}
	s.log = append(s.log, entry)
	return entry
}

// logStatus records the answer before it is written, so a client that has its reply also sees it
// in the log.
func (s *Server) logStatus(entry *Request, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	entry.Status = status
}

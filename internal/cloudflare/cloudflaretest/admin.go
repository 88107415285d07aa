package cloudflaretest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// adminPrefix is where the admin endpoints live: they let end-to-end tests that run the fake as
// a separate process assert its state and inject faults. They need no credentials, are not
// logged, and get no latency or faults.
const adminPrefix = "/_fake/"

// FaultRequest is the body of POST /_fake/faults: FailNext over HTTP. Durations are Go duration
// strings ("2s", "500ms").
type FaultRequest struct {
	Route Route      `json:"route"`
	N     int        `json:"n"`
	Fault AdminFault `json:"fault"`
}

// AdminFault is a Fault as JSON.
type AdminFault struct {
	Status     int    `json:"status,omitempty"`
	Code       int    `json:"code,omitempty"`
	Message    string `json:"message,omitempty"`
	RetryAfter string `json:"retry_after,omitempty"`
	HTML       bool   `json:"html,omitempty"`
	Commit     bool   `json:"commit,omitempty"`
	Hang       string `json:"hang,omitempty"`
}

// serveAdmin answers the admin endpoints:
//
//	GET  /_fake/services?account=ID   the account's services (JSON array of Service)
//	GET  /_fake/requests              the request log (JSON array of Request)
//	GET  /_fake/counts[?account=ID]   calls per route (JSON object route -> count)
//	POST /_fake/faults                queue a fault (FaultRequest)
//	POST /_fake/clear-faults          drop every pending fault
//	POST /_fake/reset-requests        empty the request log
//
// and the tunnel ones (see serveTunnelAdmin).
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	if s.serveTunnelAdmin(w, r) {
		return
	}
	switch r.Method + " " + r.URL.Path {
	case "GET /_fake/services":
		account := r.URL.Query().Get("account")
		if account == "" {
			adminError(w, http.StatusBadRequest, "missing query parameter account")
			return
		}
		writeAdminJSON(w, s.Services(account))
	case "GET /_fake/requests":
		writeAdminJSON(w, s.Requests())
	case "GET /_fake/counts":
		account := r.URL.Query().Get("account")
		counts := map[Route]int{}
		for _, route := range AllRoutes() {
			counts[route] = s.CountFor(account, route)
		}
		writeAdminJSON(w, counts)
	case "POST /_fake/faults":
		s.adminFault(w, r)
	case "POST /_fake/clear-faults":
		s.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	case "POST /_fake/reset-requests":
		s.ResetRequests()
		w.WriteHeader(http.StatusNoContent)
	default:
		adminError(w, http.StatusNotFound, "no admin endpoint "+r.Method+" "+r.URL.Path)
	}
}

func (s *Server) adminFault(w http.ResponseWriter, r *http.Request) {
	var req FaultRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		adminError(w, http.StatusBadRequest, "bad fault request: "+err.Error())
		return
	}
	f, err := req.Fault.fault()
	if err != nil || req.Route == "" || req.N < 1 {
		adminError(w, http.StatusBadRequest, fmt.Sprintf("bad fault request (route, n >= 1, fault): %v", err))
		return
	}
	s.FailNext(req.Route, req.N, f)
	w.WriteHeader(http.StatusNoContent)
}

// fault converts the JSON form, parsing its durations.
func (a AdminFault) fault() (Fault, error) {
	f := Fault{Status: a.Status, Code: a.Code, Message: a.Message, HTML: a.HTML, Commit: a.Commit}
	var err error
	if f.RetryAfter, err = parseDuration(a.RetryAfter); err != nil {
		return Fault{}, err
	}
	if f.Hang, err = parseDuration(a.Hang); err != nil {
		return Fault{}, err
	}
	return f, nil
}

func parseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	return time.ParseDuration(s)
}

func writeAdminJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func adminError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

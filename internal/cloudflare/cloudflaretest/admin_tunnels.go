package cloudflaretest

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// TunnelSeedRequest is the body of POST /_fake/tunnels: SeedTunnel over HTTP.
type TunnelSeedRequest struct {
	Name string `json:"name"`
}

// TunnelHealthRequest is the body of POST /_fake/tunnel-health: SetTunnelHealth over HTTP.
type TunnelHealthRequest struct {
	ID          string `json:"id"`
	Status      string `json:"status"`
	Connections int    `json:"connections"`
}

// serveTunnelAdmin answers the tunnel admin endpoints, so end-to-end tests can play the
// connector and Cloudflare's side of a tunnel; it reports whether the request was one of them:
//
//	GET  /_fake/tunnels?account=ID            the account's tunnels, deleted ones too (JSON array of Tunnel)
//	POST /_fake/tunnels?account=ID            seed a tunnel (TunnelSeedRequest); answers the Tunnel
//	POST /_fake/tunnel-health?account=ID      set status and connections (TunnelHealthRequest)
//	GET  /_fake/tunnel-token?account=ID&id=T  the connector token ({"token": "..."})
func (s *Server) serveTunnelAdmin(w http.ResponseWriter, r *http.Request) bool {
	route := r.Method + " " + r.URL.Path
	switch route {
	case "GET /_fake/tunnels", "POST /_fake/tunnels", "POST /_fake/tunnel-health", "GET /_fake/tunnel-token":
	default:
		return false
	}
	account := r.URL.Query().Get("account")
	if account == "" {
		adminError(w, http.StatusBadRequest, "missing query parameter account")
		return true
	}
	switch route {
	case "GET /_fake/tunnels":
		writeAdminJSON(w, s.Tunnels(account))
	case "POST /_fake/tunnels":
		s.adminSeedTunnel(w, r, account)
	case "POST /_fake/tunnel-health":
		s.adminTunnelHealth(w, r, account)
	default:
		s.adminTunnelToken(w, account, r.URL.Query().Get("id"))
	}
	return true
}

func (s *Server) adminSeedTunnel(w http.ResponseWriter, r *http.Request, account string) {
	var req TunnelSeedRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Name == "" {
		adminError(w, http.StatusBadRequest, fmt.Sprintf("bad tunnel request (name required): %v", err))
		return
	}
	writeAdminJSON(w, s.SeedTunnel(account, req.Name))
}

func (s *Server) adminTunnelHealth(w http.ResponseWriter, r *http.Request, account string) {
	var req TunnelHealthRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		adminError(w, http.StatusBadRequest, "bad tunnel health request: "+err.Error())
		return
	}
	switch req.Status {
	case TunnelInactive, TunnelDegraded, TunnelHealthy, TunnelDown:
	default:
		adminError(w, http.StatusBadRequest, "status must be inactive, degraded, healthy or down")
		return
	}
	if _, found := s.Tunnel(account, req.ID); !found || req.Connections < 0 {
		adminError(w, http.StatusNotFound, "no tunnel "+req.ID+" in the account (or connections < 0)")
		return
	}
	s.SetTunnelHealth(account, req.ID, req.Status, req.Connections)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) adminTunnelToken(w http.ResponseWriter, account, id string) {
	token := s.TunnelTokenOf(account, id)
	if token == "" {
		adminError(w, http.StatusNotFound, "no tunnel "+id+" in the account")
		return
	}
	writeAdminJSON(w, struct {
		Token string `json:"token"`
	}{token})
}

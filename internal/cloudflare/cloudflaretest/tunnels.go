package cloudflaretest

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// Error codes of the tunnel calls. 1013 and 1022 are what the live API is reported to answer
// (see docs/cloudflare-tunnels.md); 1001 and 1003 are the fake's choices where no evidence was
// found: clients must classify by status for those.
const (
	codeTunnelInvalid        = 1001 // 400: a body or query the API rejects
	codeTunnelNotFound       = 1003 // 404: unknown tunnel id (or deleted, for token and deletes)
	codeTunnelNameTaken      = 1013 // 409: a non-deleted tunnel has the name
	codeTunnelHasConnections = 1022 // 400: delete of a tunnel that still has connections
)

// tunnelWireNames are the create body's fields, for the key-case check.
var tunnelWireNames = []string{"name", "config_src", "tunnel_secret"}

// tunnelJSON is a tunnel in the API's wire shape (the SDK's shared.CloudflareTunnel, plus the
// token a remotely managed tunnel's create answers).
type tunnelJSON struct {
	ID              string           `json:"id"`
	AccountTag      string           `json:"account_tag"`
	Name            string           `json:"name"`
	Status          string           `json:"status"`
	CreatedAt       time.Time        `json:"created_at"`
	DeletedAt       *time.Time       `json:"deleted_at"`
	Connections     []connectionJSON `json:"connections"`
	ConnsActiveAt   *time.Time       `json:"conns_active_at"`
	ConnsInactiveAt *time.Time       `json:"conns_inactive_at"`
	ConfigSrc       string           `json:"config_src"`
	RemoteConfig    bool             `json:"remote_config"`
	TunType         string           `json:"tun_type"`
	Metadata        map[string]any   `json:"metadata"`
	Token           string           `json:"token,omitempty"`
}

// connectionJSON is one entry of a tunnel's connections.
type connectionJSON struct {
	ID                 string    `json:"id"`
	ClientID           string    `json:"client_id"`
	ClientVersion      string    `json:"client_version"`
	ColoName           string    `json:"colo_name"`
	IsPendingReconnect bool      `json:"is_pending_reconnect"`
	OpenedAt           time.Time `json:"opened_at"`
	OriginIP           string    `json:"origin_ip"`
	UUID               string    `json:"uuid"`
}

// wire renders the record; withToken adds the connector token, as a create does.
func (r *tunnelRecord) wire(withToken bool) tunnelJSON {
	m := r.export()
	out := tunnelJSON{
		ID: m.ID, AccountTag: r.account, Name: m.Name, Status: m.Status, CreatedAt: m.CreatedAt,
		DeletedAt: m.DeletedAt, Connections: []connectionJSON{}, ConfigSrc: m.ConfigSrc,
		RemoteConfig: m.ConfigSrc == configSrcCloudflare, TunType: "cfd_tunnel", Metadata: map[string]any{},
	}
	for _, c := range r.conns {
		out.Connections = append(out.Connections, connectionJSON{
			ID: c.id, ClientID: c.clientID, ClientVersion: "2025.7.0", ColoName: c.colo,
			OpenedAt: c.openedAt, OriginIP: c.originIP, UUID: c.id,
		})
		if out.ConnsActiveAt == nil || c.openedAt.Before(*out.ConnsActiveAt) {
			out.ConnsActiveAt = &c.openedAt
		}
	}
	if withToken {
		out.Token = r.token()
	}
	return out
}

// tunnelRequest is a validated create body.
type tunnelRequest struct {
	name, configSrc string
	secret          []byte // nil: the fake chooses one
}

// parseTunnelBody validates a create body: name required, config_src local (the default) or
// cloudflare, tunnel_secret when present the base64 of at least 32 bytes.
func parseTunnelBody(data []byte) (tunnelRequest, error) {
	var raw any
	if err := json.Unmarshal(data, &raw); err != nil {
		return tunnelRequest{}, invalid("%v", err)
	}
	if err := checkKeyCase(raw, tunnelWireNames); err != nil {
		return tunnelRequest{}, err
	}
	var b struct {
		Name         *string `json:"name"`
		ConfigSrc    *string `json:"config_src"`
		TunnelSecret *string `json:"tunnel_secret"`
	}
	if err := json.Unmarshal(data, &b); err != nil {
		return tunnelRequest{}, invalid("%v", err)
	}
	req := tunnelRequest{configSrc: configSrcLocal}
	switch {
	case b.Name == nil || *b.Name == "":
		return req, invalid("missing field `name`")
	case b.ConfigSrc != nil && *b.ConfigSrc != configSrcLocal && *b.ConfigSrc != configSrcCloudflare:
		return req, invalid("config_src must be local or cloudflare")
	}
	req.name = *b.Name
	if b.ConfigSrc != nil {
		req.configSrc = *b.ConfigSrc
	}
	if b.TunnelSecret != nil {
		secret, err := base64.StdEncoding.DecodeString(*b.TunnelSecret)
		if err != nil || len(secret) < tunnelSecretBytes {
			return req, invalid("tunnel_secret must be base64 of at least %d bytes", tunnelSecretBytes)
		}
		req.secret = secret
	}
	return req, nil
}

// handleTunnel performs a tunnel call; ok is false for a route that is not a tunnel call.
func (s *Server) handleTunnel(r *http.Request, c *call) (response, bool) {
	switch c.route {
	case RouteTunnelCreate:
		return s.createTunnel(c.account, c.body), true
	case RouteTunnelList:
		return s.listTunnels(c.account, r.URL.Query()), true
	case RouteTunnelGet:
		return s.getTunnel(c.account, c.tunnelID), true
	case RouteTunnelToken:
		return s.tunnelToken(c.account, c.tunnelID), true
	case RouteTunnelDelete:
		return s.deleteTunnel(c.account, c.tunnelID), true
	case RouteTunnelConnectionsDelete:
		return s.deleteTunnelConnections(c.account, c.tunnelID), true
	}
	return response{}, false
}

// createTunnel makes an inactive tunnel; a remotely managed one's reply carries its token.
func (s *Server) createTunnel(accountID string, body []byte) response {
	req, err := parseTunnelBody(body)
	if err != nil {
		return fail(http.StatusBadRequest, codeTunnelInvalid, err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	acct := s.account(accountID)
	if acct.liveTunnelNamed(req.name) != nil {
		return fail(http.StatusConflict, codeTunnelNameTaken, "You already have a tunnel with this name")
	}
	rec := s.newTunnel(accountID, "", req.name, req.configSrc, req.secret)
	acct.tunnels[rec.model.ID] = rec
	return ok(rec.wire(req.configSrc == configSrcCloudflare))
}

// listTunnels answers one page of the account's tunnels, filtered by name (exact), uuid,
// status and is_deleted (true: only deleted; false: only live; absent: all).
func (s *Server) listTunnels(accountID string, q url.Values) response {
	page, err := queryInt(q, "page", 1)
	if err == nil {
		var perPage int
		if perPage, err = queryInt(q, "per_page", defaultPerPage); err == nil {
			return s.tunnelPage(accountID, q, page, min(perPage, maxPerPage))
		}
	}
	return fail(http.StatusBadRequest, codeTunnelInvalid, err.Error())
}

// tunnelPage filters and pages once the paging parameters are known.
func (s *Server) tunnelPage(accountID string, q url.Values, page, perPage int) response {
	deleted := q.Get("is_deleted")
	if deleted != "" && deleted != "true" && deleted != "false" {
		return fail(http.StatusBadRequest, codeTunnelInvalid, "invalid query: is_deleted must be true or false")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	records := slices.DeleteFunc(s.sortedTunnels(accountID), func(r *tunnelRecord) bool {
		return (q.Has("name") && r.model.Name != q.Get("name")) ||
			(q.Has("uuid") && r.model.ID != q.Get("uuid")) ||
			(q.Has("status") && r.model.Status != q.Get("status")) ||
			(deleted != "" && r.live() == (deleted == "true"))
	})
	all := make([]tunnelJSON, len(records))
	for i, r := range records {
		all[i] = r.wire(false)
	}
	return pageOf(all, page, perPage, s.OmitResultInfo)
}

// getTunnel answers a tunnel, deleted ones included (with deleted_at set), as the API does.
func (s *Server) getTunnel(accountID, id string) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.account(accountID).tunnels[id]
	if r == nil {
		return tunnelNotFound()
	}
	return ok(r.wire(false))
}

// tunnelToken answers the connector token as the bare result.
func (s *Server) tunnelToken(accountID, id string) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.account(accountID).liveTunnel(id)
	if r == nil {
		return tunnelNotFound()
	}
	return ok(r.token())
}

// deleteTunnel soft-deletes: the tunnel stays, with deleted_at set, and frees its name. A tunnel
// that still has connections is refused.
func (s *Server) deleteTunnel(accountID, id string) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.account(accountID).liveTunnel(id)
	if r == nil {
		return tunnelNotFound()
	}
	if len(r.conns) > 0 {
		return fail(http.StatusBadRequest, codeTunnelHasConnections, "Cannot delete tunnel because it has active connections")
	}
	now := s.now()
	r.model.DeletedAt = &now
	return ok(r.wire(false))
}

// deleteTunnelConnections drops every connection; a tunnel that had been connected is down.
func (s *Server) deleteTunnelConnections(accountID, id string) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.account(accountID).liveTunnel(id)
	if r == nil {
		return tunnelNotFound()
	}
	if len(r.conns) > 0 || r.model.Status != TunnelInactive {
		r.model.Status = TunnelDown
	}
	r.conns = nil
	return ok(nil)
}

func tunnelNotFound() response {
	return fail(http.StatusNotFound, codeTunnelNotFound, "Tunnel not found")
}

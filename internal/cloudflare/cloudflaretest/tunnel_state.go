package cloudflaretest

import (
	"cmp"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Tunnel statuses, as the API reports them.
const (
	TunnelInactive = "inactive"
	TunnelDegraded = "degraded"
	TunnelHealthy  = "healthy"
	TunnelDown     = "down"
)

// Tunnel configuration sources.
const (
	configSrcCloudflare = "cloudflare"
	configSrcLocal      = "local"
)

// tunnelSecretBytes is the size of a secret the fake chooses, and the least the API accepts.
const tunnelSecretBytes = 32

// tunnelRecord is a tunnel as the fake stores it: the model plus what never leaves through the
// model (secret, connection details). Connections in the model is derived from conns.
type tunnelRecord struct {
	model   Tunnel
	account string
	secret  []byte
	conns   []tunnelConn
}

// tunnelConn is one connection of a connector to a Cloudflare data center.
type tunnelConn struct {
	id, clientID, colo, originIP string
	openedAt                     time.Time
}

// export returns the model with its connection count, as a copy.
func (r *tunnelRecord) export() Tunnel {
	t := r.model.clone()
	t.Connections = len(r.conns)
	return t
}

// live reports a tunnel that is not deleted.
func (r *tunnelRecord) live() bool { return r.model.DeletedAt == nil }

// token is the connector token: base64 of {"a": account tag, "t": tunnel id, "s": base64
// secret}, the format cloudflared reads.
func (r *tunnelRecord) token() string {
	data, _ := json.Marshal(struct {
		A string `json:"a"`
		T string `json:"t"`
		S []byte `json:"s"`
	}{r.account, r.model.ID, r.secret})
	return base64.StdEncoding.EncodeToString(data)
}

// setConnections replaces the connections with n fresh ones. The caller holds s.mu.
func (r *tunnelRecord) setConnections(n int, now time.Time) {
	r.conns = nil
	clientID := newUUID()
	for i := range n {
		r.conns = append(r.conns, tunnelConn{
			id: newUUID(), clientID: clientID, colo: []string{"sjc01", "lax02"}[i%2],
			originIP: fmt.Sprintf("198.51.100.%d", 10+i%200), openedAt: now,
		})
	}
}

// newTunnel makes a record with a fresh id (or the given one) and a random secret when none is
// given. The caller holds s.mu and stores it.
func (s *Server) newTunnel(accountID, id, name, configSrc string, secret []byte) *tunnelRecord {
	if id == "" {
		id = newUUID()
	}
	if secret == nil {
		secret = make([]byte, tunnelSecretBytes)
		_, _ = rand.Read(secret)
	}
	return &tunnelRecord{
		model:   Tunnel{ID: id, Name: name, Status: TunnelInactive, ConfigSrc: configSrc, CreatedAt: s.now()},
		account: accountID,
		secret:  slices.Clone(secret),
	}
}

// liveTunnel returns the non-deleted tunnel with this id, or nil.
func (a *account) liveTunnel(id string) *tunnelRecord {
	if r := a.tunnels[id]; r != nil && r.live() {
		return r
	}
	return nil
}

// liveTunnelNamed returns the non-deleted tunnel with this name, or nil.
func (a *account) liveTunnelNamed(name string) *tunnelRecord {
	for _, r := range a.tunnels {
		if r.live() && r.model.Name == name {
			return r
		}
	}
	return nil
}

// sortedTunnels copies the account's tunnels in list order (created_at, then id), deleted ones
// included. The caller holds s.mu.
func (s *Server) sortedTunnels(accountID string) []*tunnelRecord {
	out := make([]*tunnelRecord, 0, len(s.account(accountID).tunnels))
	for _, r := range s.account(accountID).tunnels {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *tunnelRecord) int {
		return cmp.Or(a.model.CreatedAt.Compare(b.model.CreatedAt), cmp.Compare(a.model.ID, b.model.ID))
	})
	return out
}

// AddTunnel makes a tunnel id known to an account, as a healthy remotely managed tunnel with one
// connection named "tunnel-<id>", so services can point at it. A deleted tunnel with this id is
// brought back; an existing one is left as it is.
func (s *Server) AddTunnel(accountID, tunnelID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	acct := s.account(accountID)
	if r := acct.tunnels[tunnelID]; r != nil {
		r.model.DeletedAt = nil
		return
	}
	r := s.newTunnel(accountID, tunnelID, "tunnel-"+tunnelID, configSrcCloudflare, nil)
	r.model.Status = TunnelHealthy
	r.setConnections(1, r.model.CreatedAt)
	acct.tunnels[tunnelID] = r
}

// SeedTunnel creates a remotely managed, never-connected tunnel directly, without validation or
// a logged request, e.g. a tunnel left behind by a create whose reply was lost, or one that
// holds a name. It returns the record, including the id Cloudflare would have assigned.
func (s *Server) SeedTunnel(accountID, name string) Tunnel {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.newTunnel(accountID, "", name, configSrcCloudflare, nil)
	s.account(accountID).tunnels[r.model.ID] = r
	return r.export()
}

// Tunnel returns one tunnel by id, deleted or not, for assertions on the remote state.
func (s *Server) Tunnel(accountID, id string) (Tunnel, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.account(accountID).tunnels[id]
	if r == nil {
		return Tunnel{}, false
	}
	return r.export(), true
}

// Tunnels returns the account's tunnels, deleted ones included, in list order (CreatedAt, ID).
func (s *Server) Tunnels(accountID string) []Tunnel {
	s.mu.Lock()
	defer s.mu.Unlock()
	records := s.sortedTunnels(accountID)
	out := make([]Tunnel, len(records))
	for i, r := range records {
		out[i] = r.export()
	}
	return out
}

// SetTunnelHealth plays the connector: it sets the status and replaces the connections with
// that many live ones, as a cloudflared starting, degrading or stopping would. Unknown ids are
// ignored.
func (s *Server) SetTunnelHealth(accountID, id, status string, connections int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.account(accountID).tunnels[id]
	if r == nil {
		return
	}
	r.model.Status = status
	r.setConnections(max(connections, 0), s.now())
}

// TunnelTokenOf returns the tunnel's connector token, so a test can compare what the operator
// stored with what Cloudflare would hand out; empty for an unknown tunnel.
func (s *Server) TunnelTokenOf(accountID, id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.account(accountID).tunnels[id]
	if r == nil {
		return ""
	}
	return r.token()
}

package cloudflaretest

import (
	"time"
)

// Service is the fake's own model of a connectivity service, in the API's wire shape. It is
// deliberately independent of the operator's client types, so a JSON mistake in the client
// (a wrong tag, a missing omitempty) shows up as a failing test instead of agreeing with itself.
// Pointers keep "absent" distinct from "zero": the API echoes ports and tls_settings only when
// they were sent.
type Service struct {
	ID          string       `json:"service_id"`
	Name        string       `json:"name"`
	Type        string       `json:"type"`
	Host        Host         `json:"host"`
	HTTPPort    *int32       `json:"http_port,omitempty"`
	HTTPSPort   *int32       `json:"https_port,omitempty"`
	TCPPort     *int32       `json:"tcp_port,omitempty"`
	AppProtocol string       `json:"app_protocol,omitempty"`
	TLSSettings *TLSSettings `json:"tls_settings,omitempty"`
	CreatedAt   time.Time    `json:"created_at"`
	UpdatedAt   time.Time    `json:"updated_at"`
}

// Host is the private origin: an IPv4 and/or IPv6 address with Network, or a hostname with
// ResolverNetwork. The API accepts exactly one of those four shapes.
type Host struct {
	IPv4            string           `json:"ipv4,omitempty"`
	IPv6            string           `json:"ipv6,omitempty"`
	Hostname        string           `json:"hostname,omitempty"`
	Network         *Network         `json:"network,omitempty"`
	ResolverNetwork *ResolverNetwork `json:"resolver_network,omitempty"`
}

// Network names the tunnel that reaches an IP origin.
type Network struct {
	TunnelID string `json:"tunnel_id"`
}

// ResolverNetwork names the tunnel whose cloudflared resolves a hostname origin, and optionally
// the resolvers it should ask.
type ResolverNetwork struct {
	TunnelID    string   `json:"tunnel_id"`
	ResolverIPs []string `json:"resolver_ips,omitempty"`
}

// TLSSettings is the origin certificate check; the API treats its absence as verify_full.
type TLSSettings struct {
	CertVerificationMode string `json:"cert_verification_mode"`
}

// clone returns a deep copy, so callers of the state accessors can never race with the server
// through a shared pointer or slice.
func (s Service) clone() Service {
	c := s
	c.HTTPPort = cloneInt(s.HTTPPort)
	c.HTTPSPort = cloneInt(s.HTTPSPort)
	c.TCPPort = cloneInt(s.TCPPort)
	if s.TLSSettings != nil {
		t := *s.TLSSettings
		c.TLSSettings = &t
	}
	if s.Host.Network != nil {
		n := *s.Host.Network
		c.Host.Network = &n
	}
	if s.Host.ResolverNetwork != nil {
		rn := *s.Host.ResolverNetwork
		rn.ResolverIPs = append([]string(nil), rn.ResolverIPs...)
		c.Host.ResolverNetwork = &rn
	}
	return c
}

func cloneInt(p *int32) *int32 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// tunnelID is the tunnel the host points at, whichever shape it has.
func (h Host) tunnelID() string {
	switch {
	case h.Network != nil:
		return h.Network.TunnelID
	case h.ResolverNetwork != nil:
		return h.ResolverNetwork.TunnelID
	}
	return ""
}

// Tunnel is the fake's model of a Cloudflare Tunnel (cfd_tunnel), for tests to set up and
// assert the remote state. Like Service it is independent of the client's types. The wire
// shape differs (connections is an array there, and the secret and token never appear here).
type Tunnel struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Status is inactive (never connected), degraded, healthy or down.
	Status string `json:"status"`
	// ConfigSrc is "cloudflare" (remotely managed, with a connector token) or "local".
	ConfigSrc string    `json:"config_src"`
	CreatedAt time.Time `json:"created_at"`
	// DeletedAt is set by a delete: Cloudflare keeps deleted tunnels and still answers them.
	DeletedAt *time.Time `json:"deleted_at,omitempty"`
	// Connections counts the tunnel's connections (none pending reconnect in the fake).
	Connections int `json:"connections"`
}

// clone returns a copy that shares no pointer with the fake's state.
func (t Tunnel) clone() Tunnel {
	if t.DeletedAt != nil {
		d := *t.DeletedAt
		t.DeletedAt = &d
	}
	return t
}

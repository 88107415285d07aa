// Package cloudflare is the operator's client for the Cloudflare Workers VPC connectivity
// directory API and for the Cloudflare Tunnels (cfd_tunnel) the services reach their origins
// through. It wraps the official SDK behind a small interface sized to the controller's verbs,
// maps every failure to a typed error the controller can branch on, and keeps credentials,
// tunnel secrets and connector tokens out of every error and print (docs/cloudflare-tunnels.md).
package cloudflare

import "time"

// Service is a Workers VPC connectivity service as the API sends and receives it. Create and
// update take the same shape; ID, CreatedAt and UpdatedAt are read-only and only set in replies.
type Service struct {
	ID          string       `json:"service_id,omitempty"`
	Name        string       `json:"name"`
	Type        string       `json:"type"`
	Host        Host         `json:"host"`
	HTTPPort    *int32       `json:"http_port,omitempty"`
	HTTPSPort   *int32       `json:"https_port,omitempty"`
	TCPPort     *int32       `json:"tcp_port,omitempty"`
	AppProtocol string       `json:"app_protocol,omitempty"`
	TLSSettings *TLSSettings `json:"tls_settings,omitempty"`
	CreatedAt   time.Time    `json:"created_at,omitzero"`
	UpdatedAt   time.Time    `json:"updated_at,omitzero"`
}

// Host is the origin: ipv4, ipv6 or both with Network, or a hostname with ResolverNetwork.
type Host struct {
	IPv4            string           `json:"ipv4,omitempty"`
	IPv6            string           `json:"ipv6,omitempty"`
	Hostname        string           `json:"hostname,omitempty"`
	Network         *Network         `json:"network,omitempty"`
	ResolverNetwork *ResolverNetwork `json:"resolver_network,omitempty"`
}

// Network is the tunnel that reaches an IP origin.
type Network struct {
	TunnelID string `json:"tunnel_id"`
}

// ResolverNetwork is the tunnel whose cloudflared resolves and reaches a hostname origin.
type ResolverNetwork struct {
	TunnelID    string   `json:"tunnel_id"`
	ResolverIPs []string `json:"resolver_ips,omitempty"`
}

// TLSSettings is the origin certificate check; absent means verify_full.
type TLSSettings struct {
	CertVerificationMode string `json:"cert_verification_mode"`
}

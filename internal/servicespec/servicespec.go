// Package servicespec maps a ConnectivityService spec to the Cloudflare service body and decides
// whether a remote service already matches it. Comparing normalised forms is what keeps the
// operator from spending API calls on updates that change nothing.
package servicespec

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	"github.com/workersvpc/connectivity-operator/internal/cloudflare"
)

// Cloudflare's defaults, which a remote service may show or leave out.
const (
	defaultHTTPPort  = 80
	defaultHTTPSPort = 443
)

// Name is the service name in Cloudflare: spec.name, or metadata.name when it is empty.
func Name(obj *v1alpha1.ConnectivityService) string {
	if obj.Spec.Name != "" {
		return obj.Spec.Name
	}
	return obj.Name
}

// TunnelIDs are the ids of the CloudflareTunnels that spec.host's tunnelRefs name, resolved by
// the controller; they stand in for tunnelID where the spec gives a tunnelRef instead.
type TunnelIDs struct {
	// Network is the id for host.network.tunnelRef.
	Network string
	// Resolver is the id for host.resolverNetwork.tunnelRef.
	Resolver string
}

// Build returns the body that create and update send for this object, whose host names its
// tunnels by id.
func Build(obj *v1alpha1.ConnectivityService) cloudflare.Service {
	return BuildWith(obj, TunnelIDs{})
}

// BuildWith returns the body for this object, with the resolved ids of its tunnelRefs.
func BuildWith(obj *v1alpha1.ConnectivityService, ids TunnelIDs) cloudflare.Service {
	spec := obj.Spec
	svc := cloudflare.Service{
		Name:        Name(obj),
		Type:        string(spec.Type),
		Host:        buildHost(spec.Host, ids),
		HTTPPort:    spec.HTTPPort,
		HTTPSPort:   spec.HTTPSPort,
		TCPPort:     spec.TCPPort,
		AppProtocol: string(spec.AppProtocol),
	}
	if spec.TLSSettings != nil {
		svc.TLSSettings = &cloudflare.TLSSettings{CertVerificationMode: string(spec.TLSSettings.CertVerificationMode)}
	}
	return svc
}

func buildHost(h v1alpha1.ServiceHost, ids TunnelIDs) cloudflare.Host {
	host := cloudflare.Host{IPv4: h.IPv4, IPv6: h.IPv6, Hostname: h.Hostname}
	if h.Network != nil {
		host.Network = &cloudflare.Network{TunnelID: cmp.Or(h.Network.TunnelID, ids.Network)}
	}
	if h.ResolverNetwork != nil {
		host.ResolverNetwork = &cloudflare.ResolverNetwork{
			TunnelID:    cmp.Or(h.ResolverNetwork.TunnelID, ids.Resolver),
			ResolverIPs: slices.Clone(h.ResolverNetwork.ResolverIPs),
		}
	}
	return host
}

// Equal tells whether two services configure the same thing, ignoring ids and timestamps and
// the spellings that mean the same: absent tls_settings and verify_full, absent http ports and
// 80/443, the order of resolver IPs, the case of hostnames and tunnel ids, IP address notation.
func Equal(a, b cloudflare.Service) bool {
	na, nb := normalise(a), normalise(b)
	return na.Name == nb.Name && na.Type == nb.Type &&
		na.Host.IPv4 == nb.Host.IPv4 && na.Host.IPv6 == nb.Host.IPv6 && na.Host.Hostname == nb.Host.Hostname &&
		equalNetwork(na.Host.Network, nb.Host.Network) &&
		equalResolver(na.Host.ResolverNetwork, nb.Host.ResolverNetwork) &&
		equalPort(na.HTTPPort, nb.HTTPPort) && equalPort(na.HTTPSPort, nb.HTTPSPort) &&
		equalPort(na.TCPPort, nb.TCPPort) && na.AppProtocol == nb.AppProtocol &&
		na.TLSSettings.CertVerificationMode == nb.TLSSettings.CertVerificationMode
}

// normalise returns a copy in canonical spelling, so Equal can compare field by field.
func normalise(s cloudflare.Service) cloudflare.Service {
	s.Host.IPv4 = canonicalIP(s.Host.IPv4)
	s.Host.IPv6 = canonicalIP(s.Host.IPv6)
	s.Host.Hostname = strings.TrimSuffix(strings.ToLower(s.Host.Hostname), ".")
	if s.Host.Network != nil {
		s.Host.Network = &cloudflare.Network{TunnelID: strings.ToLower(s.Host.Network.TunnelID)}
	}
	if r := s.Host.ResolverNetwork; r != nil {
		ips := make([]string, 0, len(r.ResolverIPs))
		for _, ip := range r.ResolverIPs {
			ips = append(ips, canonicalIP(ip))
		}
		slices.Sort(ips)
		s.Host.ResolverNetwork = &cloudflare.ResolverNetwork{TunnelID: strings.ToLower(r.TunnelID), ResolverIPs: ips}
	}
	if s.Type == string(v1alpha1.ServiceTypeHTTP) && s.HTTPPort == nil && s.HTTPSPort == nil {
		s.HTTPPort, s.HTTPSPort = new(int32(defaultHTTPPort)), new(int32(defaultHTTPSPort))
	}
	if s.TLSSettings == nil || s.TLSSettings.CertVerificationMode == "" {
		s.TLSSettings = &cloudflare.TLSSettings{CertVerificationMode: string(v1alpha1.CertVerifyFull)}
	}
	return s
}

func canonicalIP(s string) string {
	if addr, err := netip.ParseAddr(s); err == nil {
		return addr.String()
	}
	return s
}

func equalNetwork(a, b *cloudflare.Network) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.TunnelID == b.TunnelID
}

func equalResolver(a, b *cloudflare.ResolverNetwork) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.TunnelID == b.TunnelID && slices.Equal(a.ResolverIPs, b.ResolverIPs)
}

func equalPort(a, b *int32) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

package cloudflaretest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// serviceBody is a create or update body as sent. Every field is a pointer so that "absent",
// "null" and "zero" stay distinguishable, and ports are int64 so out-of-range values reach the
// range check instead of failing to decode.
type serviceBody struct {
	Name        *string      `json:"name"`
	Type        *string      `json:"type"`
	Host        *Host        `json:"host"`
	HTTPPort    *int64       `json:"http_port"`
	HTTPSPort   *int64       `json:"https_port"`
	TCPPort     *int64       `json:"tcp_port"`
	AppProtocol *string      `json:"app_protocol"`
	TLSSettings *TLSSettings `json:"tls_settings"`
}

// wireNames are the field names of the body at any depth. encoding/json matches keys without
// regard to case, the live API does not: a client sending "Name" must fail here as it would there.
var wireNames = []string{
	"name", "type", "host", "http_port", "https_port", "tcp_port", "app_protocol", "tls_settings",
	"ipv4", "ipv6", "hostname", "network", "resolver_network", "tunnel_id", "resolver_ips",
	"cert_verification_mode",
}

// errInvalid marks a body the API would reject with 400 code 5102.
var errInvalid = errors.New("invalid json")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errInvalid, fmt.Sprintf(format, args...))
}

// parseService decodes and validates a create or update body the way the API's schema does,
// returning the service to store (without id or timestamps).
func parseService(data []byte) (Service, error) {
	var raw any
	if err := json.Unmarshal(data, &raw); err != nil {
		return Service{}, invalid("%v", err)
	}
	if err := checkKeyCase(raw, wireNames); err != nil {
		return Service{}, err
	}
	var b serviceBody
	if err := json.Unmarshal(data, &b); err != nil {
		return Service{}, invalid("%v", err)
	}
	if err := b.validate(); err != nil {
		return Service{}, err
	}
	return b.service(), nil
}

// checkKeyCase rejects keys that differ from one of names only by case, at any depth.
func checkKeyCase(v any, names []string) error {
	switch v := v.(type) {
	case map[string]any:
		for k, child := range v {
			for _, name := range names {
				if k != name && strings.EqualFold(k, name) {
					return invalid("unknown field %q (did you mean %q?)", k, name)
				}
			}
			if err := checkKeyCase(child, names); err != nil {
				return err
			}
		}
	case []any:
		for _, child := range v {
			if err := checkKeyCase(child, names); err != nil {
				return err
			}
		}
	}
	return nil
}

func (b serviceBody) validate() error {
	if b.Name == nil || *b.Name == "" {
		return invalid("missing field `name`")
	}
	if b.Type == nil {
		return invalid("missing field `type`")
	}
	if b.Host == nil {
		return invalid("missing field `host`")
	}
	if err := validateHost(*b.Host); err != nil {
		return err
	}
	if err := b.validatePorts(); err != nil {
		return err
	}
	if b.TLSSettings != nil {
		switch b.TLSSettings.CertVerificationMode {
		case "verify_full", "verify_ca", "disabled":
		default:
			return invalid("tls_settings.cert_verification_mode must be verify_full, verify_ca or disabled")
		}
	}
	return nil
}

// validatePorts enforces the type discriminator: http takes http_port/https_port, tcp takes
// tcp_port/app_protocol, and never the other's fields.
func (b serviceBody) validatePorts() error {
	ports := []struct {
		name  string
		value *int64
	}{{"http_port", b.HTTPPort}, {"https_port", b.HTTPSPort}, {"tcp_port", b.TCPPort}}
	for _, p := range ports {
		if p.value != nil && (*p.value < 1 || *p.value > 65535) {
			return invalid("%s must be between 1 and 65535", p.name)
		}
	}
	switch *b.Type {
	case "http":
		if b.TCPPort != nil || b.AppProtocol != nil {
			return invalid("tcp_port and app_protocol are not allowed on an http service")
		}
	case "tcp":
		if b.HTTPPort != nil || b.HTTPSPort != nil {
			return invalid("http_port and https_port are not allowed on a tcp service")
		}
		if b.AppProtocol != nil && *b.AppProtocol != "postgresql" && *b.AppProtocol != "mysql" {
			return invalid("app_protocol must be postgresql or mysql")
		}
	default:
		return invalid("type must be http or tcp")
	}
	return nil
}

// validateHost accepts exactly the four host shapes of the schema.
func validateHost(h Host) error {
	if h.Hostname != "" {
		if h.IPv4 != "" || h.IPv6 != "" || h.Network != nil || h.ResolverNetwork == nil {
			return invalid("host: hostname needs resolver_network and nothing else")
		}
		if h.ResolverNetwork.TunnelID == "" {
			return invalid("host.resolver_network: missing field `tunnel_id`")
		}
		for _, ip := range h.ResolverNetwork.ResolverIPs {
			if _, err := netip.ParseAddr(ip); err != nil {
				return invalid("host.resolver_network.resolver_ips: %q is not an IP address", ip)
			}
		}
		return nil
	}
	if h.IPv4 == "" && h.IPv6 == "" {
		return invalid("host must have ipv4, ipv6, both, or hostname")
	}
	if h.Network == nil || h.ResolverNetwork != nil {
		return invalid("host: an IP host needs network and no resolver_network")
	}
	if h.Network.TunnelID == "" {
		return invalid("host.network: missing field `tunnel_id`")
	}
	if h.IPv4 != "" {
		if a, err := netip.ParseAddr(h.IPv4); err != nil || !a.Is4() {
			return invalid("host.ipv4: %q is not an IPv4 address", h.IPv4)
		}
	}
	if h.IPv6 != "" {
		if a, err := netip.ParseAddr(h.IPv6); err != nil || !a.Is6() || a.Is4In6() {
			return invalid("host.ipv6: %q is not an IPv6 address", h.IPv6)
		}
	}
	return nil
}

// service converts a validated body to the stored model.
func (b serviceBody) service() Service {
	svc := Service{Name: *b.Name, Type: *b.Type, Host: *b.Host}
	svc.HTTPPort = port(b.HTTPPort)
	svc.HTTPSPort = port(b.HTTPSPort)
	svc.TCPPort = port(b.TCPPort)
	if b.AppProtocol != nil {
		svc.AppProtocol = *b.AppProtocol
	}
	svc.TLSSettings = b.TLSSettings
	return svc.clone()
}

func port(p *int64) *int32 {
	if p == nil {
		return nil
	}
	v := int32(*p)
	return &v
}

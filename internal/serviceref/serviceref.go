// Package serviceref turns a ConnectivityService's spec.host.serviceRef and the Kubernetes
// Service it names into the origin the operator sends to Cloudflare. It is pure (the controller
// fetches the Service and the cluster DNS settings), so every mapping rule is testable without a
// cluster, and the same inputs always give the same body, which keeps updates idempotent.
//
// Decisions the controller relies on:
//   - address: Hostname (the default) sends <name>.<namespace>.svc.<cluster domain> through
//     host.resolverNetwork, with the cluster DNS as resolver unless the spec names resolverIPs.
//   - address: ClusterIP sends the Service's cluster IPs (IPv4, IPv6 or both) through host.network.
//   - An ExternalName Service always gives a hostname origin (its external name, resolved with
//     cloudflared's own resolver), so with address: ClusterIP Apply moves the tunnel from
//     network to resolver_network: Cloudflare takes a hostname only with a resolver network.
//   - A headless Service's DNS name resolves to pod IPs, which kube-proxy does not translate, so
//     the port sent for it is the ServicePort's targetPort (when it is a number), not its port.
package serviceref

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	"github.com/workersvpc/connectivity-operator/internal/cloudflare"
)

// defaultClusterDomain is the cluster domain used when DNS.ClusterDomain is empty, because it is
// what nearly every cluster is configured with.
const defaultClusterDomain = "cluster.local"

const (
	httpsName = "https"
	httpsPort = 443
	maxPort   = 65535
)

// DNS is how the cluster names and resolves Services. The controller discovers it once (it is
// cluster configuration, not part of any object) and passes it in, so Resolve stays pure.
type DNS struct {
	// ClusterDomain is the cluster's DNS domain, e.g. "cluster.local"; empty means
	// "cluster.local", and leading or trailing dots are ignored.
	ClusterDomain string
	// ResolverIPs are the cluster DNS Service's ClusterIP(s), e.g. ["10.96.0.10"]; cloudflared
	// needs them to resolve a Service's name when it does not run with the cluster's resolver.
	ResolverIPs []string
}

// Origin is what a serviceRef resolves to: the host fields and the ports to send. Exactly one of
// Hostname or the IP fields (IPv4, IPv6 or both) is set, so Apply can pick the tunnel shape.
type Origin struct {
	// IPv4 is the Service's IPv4 cluster IP (address: ClusterIP).
	IPv4 string
	// IPv6 is the Service's IPv6 cluster IP (address: ClusterIP).
	IPv6 string
	// Hostname is the Service's cluster DNS name, or an ExternalName Service's external name.
	Hostname string
	// ResolverIPs are the DNS servers for an in-cluster hostname origin: DNS.ResolverIPs. Empty
	// for IP origins and ExternalName Services, whose name cloudflared resolves on its own.
	ResolverIPs []string
	// HTTPPort is the Service port for an http service that is not HTTPS.
	HTTPPort *int32
	// HTTPSPort is the Service port for an http service that is HTTPS (named https, numbered
	// 443, or with appProtocol https).
	HTTPSPort *int32
	// TCPPort is the Service port for a tcp service.
	TCPPort *int32
}

var (
	// ErrServiceNotFound means the Service that serviceRef names does not exist (yet); the
	// controller waits for it rather than sending a stale origin.
	ErrServiceNotFound = errors.New("serviceRef names no existing Service")
	// ErrNoAddress means the Service has no address of the asked kind: a headless (or not yet
	// allocated) Service with address: ClusterIP, or an ExternalName Service without a name.
	ErrNoAddress = errors.New("referenced Service has no address to send")
	// ErrPortNotFound means no TCP port of the Service matches serviceRef.port, so there is no
	// port to send.
	ErrPortNotFound = errors.New("referenced Service has no such port")
)

// Resolve maps obj's serviceRef onto svc (nil when the Service does not exist), so the controller
// can send the Service's current address and port. Errors wrap ErrServiceNotFound, ErrNoAddress
// or ErrPortNotFound with a message that names the Service, the port asked for and the ports it
// has, so a person can fix the reference.
func Resolve(obj *v1alpha1.ConnectivityService, svc *corev1.Service, dns DNS) (Origin, error) {
	if obj == nil || obj.Spec.Host.ServiceRef == nil {
		return Origin{}, errors.New("serviceref: object has no spec.host.serviceRef")
	}
	ref := obj.Spec.Host.ServiceRef
	if svc == nil {
		return Origin{}, fmt.Errorf("%w: Service %s/%s does not exist; create it or correct spec.host.serviceRef.name",
			ErrServiceNotFound, obj.Namespace, ref.Name)
	}
	o, err := resolveAddress(ref, svc, dns)
	if err != nil {
		return Origin{}, err
	}
	number, https, err := resolvePort(ref.Port, svc)
	if err != nil {
		return Origin{}, err
	}
	switch {
	case obj.Spec.Type == v1alpha1.ServiceTypeTCP:
		o.TCPPort = new(number)
	case https:
		o.HTTPSPort = new(number)
	default:
		o.HTTPPort = new(number)
	}
	return o, nil
}

// resolveAddress gives the host part of the origin for the asked address kind.
func resolveAddress(ref *v1alpha1.ServiceReference, svc *corev1.Service, dns DNS) (Origin, error) {
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		name := strings.TrimSuffix(strings.TrimSpace(svc.Spec.ExternalName), ".")
		if name == "" {
			return Origin{}, fmt.Errorf("%w: Service %s is type ExternalName but sets no externalName",
				ErrNoAddress, describe(svc))
		}
		return Origin{Hostname: name}, nil
	}
	if ref.Address == v1alpha1.ServiceAddressClusterIP {
		return clusterIPOrigin(svc)
	}
	domain := strings.Trim(dns.ClusterDomain, ".")
	if domain == "" {
		domain = defaultClusterDomain
	}
	return Origin{
		Hostname:    svc.Name + "." + svc.Namespace + ".svc." + domain,
		ResolverIPs: slices.Clone(dns.ResolverIPs),
	}, nil
}

// clusterIPOrigin takes the first IPv4 and the first IPv6 cluster IP, in the Service's order.
func clusterIPOrigin(svc *corev1.Service) (Origin, error) {
	ips := svc.Spec.ClusterIPs
	if len(ips) == 0 && svc.Spec.ClusterIP != "" {
		ips = []string{svc.Spec.ClusterIP}
	}
	var o Origin
	for _, s := range ips {
		addr, err := netip.ParseAddr(s)
		if err != nil {
			continue // "None" marks a headless Service
		}
		addr = addr.Unmap()
		switch {
		case addr.Is4() && o.IPv4 == "":
			o.IPv4 = addr.String()
		case addr.Is6() && o.IPv6 == "":
			o.IPv6 = addr.String()
		}
	}
	if o.IPv4 != "" || o.IPv6 != "" {
		return o, nil
	}
	if isHeadless(svc) {
		return Origin{}, fmt.Errorf("%w: Service %s is headless (clusterIP: None) and has no cluster IP; "+
			"use serviceRef.address: Hostname (with resolverNetwork) to send its DNS name", ErrNoAddress, describe(svc))
	}
	return Origin{}, fmt.Errorf("%w: Service %s has no cluster IP yet; "+
		"wait for it to be allocated or use serviceRef.address: Hostname", ErrNoAddress, describe(svc))
}

// resolvePort finds the port to send and whether it is HTTPS.
func resolvePort(want intstr.IntOrString, svc *corev1.Service) (int32, bool, error) {
	number, byNumber := portNumber(want)
	if svc.Spec.Type == corev1.ServiceTypeExternalName && len(svc.Spec.Ports) == 0 {
		if !byNumber || number < 1 || number > maxPort {
			return 0, false, fmt.Errorf("%w: Service %s is an ExternalName Service without ports, "+
				"so spec.host.serviceRef.port must be a port number from 1 to 65535, not %s",
				ErrPortNotFound, describe(svc), wantString(want))
		}
		return number, number == httpsPort, nil
	}
	sp, err := matchPort(want, svc)
	if err != nil {
		return 0, false, err
	}
	if !isHeadless(svc) {
		return sp.Port, isHTTPS(sp), nil
	}
	switch {
	case sp.TargetPort.Type == intstr.Int && sp.TargetPort.IntVal == 0:
		return sp.Port, isHTTPS(sp), nil // targetPort unset: it defaults to port
	case sp.TargetPort.Type == intstr.Int:
		return sp.TargetPort.IntVal, isHTTPS(sp), nil
	}
	return 0, false, fmt.Errorf("%w: Service %s is headless, so its name resolves to pod IPs and port %s "+
		"must be reached on its targetPort, which is the named container port %q; set targetPort to a number",
		ErrPortNotFound, describe(svc), wantString(want), sp.TargetPort.StrVal)
}

// matchPort finds the TCP ServicePort that want names, by number or by name.
func matchPort(want intstr.IntOrString, svc *corev1.Service) (corev1.ServicePort, error) {
	number, byNumber := portNumber(want)
	nonTCP := ""
	for _, p := range svc.Spec.Ports {
		if (byNumber && p.Port != number) || (!byNumber && p.Name != want.StrVal) {
			continue
		}
		if p.Protocol == "" || p.Protocol == corev1.ProtocolTCP {
			return p, nil
		}
		nonTCP = string(p.Protocol)
	}
	if nonTCP != "" {
		return corev1.ServicePort{}, fmt.Errorf("%w: Service %s has port %s only as %s, and a tunnel carries TCP; "+
			"its ports are %s", ErrPortNotFound, describe(svc), wantString(want), nonTCP, listPorts(svc.Spec.Ports))
	}
	return corev1.ServicePort{}, fmt.Errorf("%w: Service %s has no port %s; its ports are %s; "+
		"set spec.host.serviceRef.port to one of them (by port, not targetPort, or by name)",
		ErrPortNotFound, describe(svc), wantString(want), listPorts(svc.Spec.Ports))
}

// portNumber reads want as a port number. A string of digits counts as a number too, since a
// Service port name always has a letter and so can never be all digits.
func portNumber(want intstr.IntOrString) (int32, bool) {
	if want.Type == intstr.Int {
		return want.IntVal, true
	}
	n, err := strconv.ParseInt(want.StrVal, 10, 32)
	if err != nil || n < 0 || strings.ContainsAny(want.StrVal, "+-") {
		return 0, false
	}
	return int32(n), true
}

// isHTTPS tells whether an http service's port speaks TLS.
func isHTTPS(p corev1.ServicePort) bool {
	return strings.EqualFold(p.Name, httpsName) || p.Port == httpsPort ||
		(p.AppProtocol != nil && strings.EqualFold(*p.AppProtocol, httpsName))
}

func isHeadless(svc *corev1.Service) bool {
	return svc.Spec.ClusterIP == corev1.ClusterIPNone ||
		(len(svc.Spec.ClusterIPs) > 0 && svc.Spec.ClusterIPs[0] == corev1.ClusterIPNone)
}

func describe(svc *corev1.Service) string {
	return svc.Namespace + "/" + svc.Name
}

func wantString(want intstr.IntOrString) string {
	if want.Type == intstr.Int {
		return strconv.Itoa(int(want.IntVal))
	}
	return strconv.Quote(want.StrVal)
}

// listPorts spells the Service's ports in their own order, e.g. `80/TCP "http", 53/UDP`.
func listPorts(ports []corev1.ServicePort) string {
	if len(ports) == 0 {
		return "none"
	}
	parts := make([]string, 0, len(ports))
	for _, p := range ports {
		s := fmt.Sprintf("%d/%s", p.Port, cmp.Or(string(p.Protocol), string(corev1.ProtocolTCP)))
		if p.Name != "" {
			s += " " + strconv.Quote(p.Name)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

// Apply writes o into body, a Cloudflare body built from spec (servicespec.BuildWith), so the
// body carries the Service's address instead of the spec's empty ipv4/ipv6/hostname. The host
// gets the shape the origin needs and never both: a hostname origin goes with resolver_network,
// an IP origin with network, and the tunnel id moves across when the spec named it in the other
// one (an ExternalName Service with address: ClusterIP). Resolver IPs and ports set in the spec
// win over the Service's; only ports of spec.Type are written. Call it only with an Origin from
// a successful Resolve.
func Apply(body *cloudflare.Service, o Origin, spec v1alpha1.ConnectivityServiceSpec) {
	if body == nil {
		return
	}
	host := cloudflare.Host{IPv4: o.IPv4, IPv6: o.IPv6, Hostname: o.Hostname}
	if o.Hostname != "" {
		host.IPv4, host.IPv6 = "", ""
		if id, ok := tunnelID(body.Host, true); ok {
			host.ResolverNetwork = &cloudflare.ResolverNetwork{TunnelID: id, ResolverIPs: resolverIPs(o, spec)}
		}
	} else if id, ok := tunnelID(body.Host, false); ok {
		host.Network = &cloudflare.Network{TunnelID: id}
	}
	body.Host = host
	if spec.Type == v1alpha1.ServiceTypeTCP {
		body.TCPPort = pickPort(spec.TCPPort, o.TCPPort)
		body.HTTPPort, body.HTTPSPort = nil, nil
		return
	}
	body.HTTPPort = pickPort(spec.HTTPPort, o.HTTPPort)
	body.HTTPSPort = pickPort(spec.HTTPSPort, o.HTTPSPort)
	body.TCPPort = nil
}

// tunnelID finds the body's tunnel, preferring the shape the origin needs.
func tunnelID(h cloudflare.Host, resolver bool) (string, bool) {
	switch {
	case resolver && h.ResolverNetwork != nil:
		return h.ResolverNetwork.TunnelID, true
	case !resolver && h.Network != nil:
		return h.Network.TunnelID, true
	case h.Network != nil:
		return h.Network.TunnelID, true
	case h.ResolverNetwork != nil:
		return h.ResolverNetwork.TunnelID, true
	}
	return "", false
}

// resolverIPs are the spec's resolverIPs when it sets any, else the origin's.
func resolverIPs(o Origin, spec v1alpha1.ConnectivityServiceSpec) []string {
	if r := spec.Host.ResolverNetwork; r != nil && len(r.ResolverIPs) > 0 {
		return slices.Clone(r.ResolverIPs)
	}
	if len(o.ResolverIPs) == 0 {
		return nil
	}
	return slices.Clone(o.ResolverIPs)
}

// pickPort copies the spec's port when set, else the origin's, so the body aliases neither.
func pickPort(fromSpec, fromOrigin *int32) *int32 {
	if fromSpec != nil {
		return new(*fromSpec)
	}
	if fromOrigin != nil {
		return new(*fromOrigin)
	}
	return nil
}

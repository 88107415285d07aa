package connector

import (
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
)

// Cloudflare's defaults for an http service that sets neither httpPort nor httpsPort.
const (
	defaultHTTPPort  int32 = 80
	defaultHTTPSPort int32 = 443
)

// Destination is where a service that uses the tunnel sends traffic. Workers can reach whatever
// the connector can reach, so the NetworkPolicy allows exactly these and nothing more.
type Destination struct {
	// IPs are origin addresses (IPv4 or IPv6); empty for a hostname origin, whose address a
	// NetworkPolicy cannot name.
	IPs []string
	// Ports are TCP ports; a destination without ports opens nothing.
	Ports []int32
	// ResolverIPs are DNS servers a hostname origin is resolved with (port 53 UDP and TCP).
	ResolverIPs []string
	// Pods, when set, are the pods behind a serviceRef'd Service, allowed by label on their
	// target ports instead of IPs and Ports.
	Pods *PodPeer
}

// DestinationOf is where svc's traffic goes, as the NetworkPolicy needs it: host.ipv4 and
// host.ipv6; tcpPort for tcp; httpPort and httpsPort for http, or Cloudflare's defaults 80 and
// 443 when neither is set; host.resolverNetwork.resolverIPs for a hostname origin.
func DestinationOf(svc *v1alpha1.ConnectivityService) Destination {
	spec := svc.Spec
	var d Destination
	for _, ip := range []string{spec.Host.IPv4, spec.Host.IPv6} {
		if ip != "" {
			d.IPs = append(d.IPs, ip)
		}
	}
	switch spec.Type {
	case v1alpha1.ServiceTypeTCP:
		if spec.TCPPort != nil {
			d.Ports = []int32{*spec.TCPPort}
		}
	case v1alpha1.ServiceTypeHTTP:
		if spec.HTTPPort == nil && spec.HTTPSPort == nil {
			d.Ports = []int32{defaultHTTPPort, defaultHTTPSPort}
		}
		for _, p := range []*int32{spec.HTTPPort, spec.HTTPSPort} {
			if p != nil {
				d.Ports = append(d.Ports, *p)
			}
		}
	}
	if rn := spec.Host.ResolverNetwork; rn != nil {
		d.ResolverIPs = slices.Clone(rn.ResolverIPs)
	}
	return d
}

// NetworkPolicy limits the connector pods' egress, the real boundary of what Workers can reach
// through the tunnel (tunnel ingress rules do not limit Workers VPC traffic). It allows:
//   - DNS, UDP and TCP 53, to any address: the operator cannot know where kube-dns or a
//     service's resolverIPs live for sure, so resolvers need no rule of their own;
//   - Cloudflare's edge, UDP and TCP 7844 and TCP 443, to any address: the edge is anycast
//     and its addresses change;
//   - each IP origin on its TCP ports, as /32 (IPv4) or /128 (IPv6) ipBlocks, with IPs that
//     get the same port set merged into one rule;
//   - the pods behind a serviceRef'd Service, by its selector, on their target ports;
//   - the ports of hostname origins to any address, since a NetworkPolicy cannot name a DNS
//     name: a hostname service opens its ports cluster- and world-wide for the connector.
//
// Ingress is not restricted. An ipBlock that names a Service's ClusterIP may not match on CNIs
// that apply policy after the Service is translated to pod IPs; point such services at a hostname.
// A destination without valid ports opens nothing, and an address that does not parse is skipped.
// The output is sorted and deduplicated, so any order of dests gives the same object and hash.
// It returns nil when spec.connector.networkPolicy is false: the controller deletes its policy.
func NetworkPolicy(t *v1alpha1.CloudflareTunnel, dests []Destination) *networkingv1.NetworkPolicy {
	if np := t.Spec.Connector.NetworkPolicy; np != nil && !*np {
		return nil
	}
	p := &networkingv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: objectMeta(t, DeploymentName(t)),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: SelectorLabels(t)},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress:      append(append(baseRules(), podRules(dests)...), originRules(dests)...),
		},
	}
	setSpecHash(&p.ObjectMeta, p)
	return p
}

// baseRules are what every connector needs: DNS (one rule) and Cloudflare's edge (one rule),
// both to any address.
func baseRules() []networkingv1.NetworkPolicyEgressRule {
	return []networkingv1.NetworkPolicyEgressRule{
		{Ports: []networkingv1.NetworkPolicyPort{
			port(corev1.ProtocolUDP, 53), port(corev1.ProtocolTCP, 53),
		}},
		{Ports: []networkingv1.NetworkPolicyPort{
			port(corev1.ProtocolUDP, 7844), port(corev1.ProtocolTCP, 7844), port(corev1.ProtocolTCP, 443),
		}},
	}
}

// originRules allows exactly the (address, port) pairs of dests. Ports are gathered per address,
// then addresses with the same port set share one rule: a canonical form, whatever the input
// order or grouping. Hostname ports go in one last rule without a `to`, i.e. to any address.
func originRules(dests []Destination) []networkingv1.NetworkPolicyEgressRule {
	portsByIP := map[netip.Addr][]int32{}
	var anyPorts []int32
	for _, d := range dests {
		ports := validPorts(d.Ports)
		if len(ports) == 0 || d.Pods != nil {
			continue
		}
		if len(d.IPs) == 0 {
			anyPorts = append(anyPorts, ports...)
			continue
		}
		for _, s := range d.IPs {
			if ip, err := netip.ParseAddr(s); err == nil {
				ip = ip.Unmap().WithZone("")
				portsByIP[ip] = append(portsByIP[ip], ports...)
			}
		}
	}
	ipsByPorts := map[string][]netip.Addr{}
	for ip, ports := range portsByIP {
		key := portsKey(validPorts(ports))
		ipsByPorts[key] = append(ipsByPorts[key], ip)
	}
	var rules []networkingv1.NetworkPolicyEgressRule
	for _, key := range slices.Sorted(maps.Keys(ipsByPorts)) {
		ips := ipsByPorts[key]
		slices.SortFunc(ips, netip.Addr.Compare)
		rules = append(rules, networkingv1.NetworkPolicyEgressRule{
			To:    ipBlocks(ips),
			Ports: tcpPorts(validPorts(portsByIP[ips[0]])),
		})
	}
	if anyPorts = validPorts(anyPorts); len(anyPorts) > 0 {
		rules = append(rules, networkingv1.NetworkPolicyEgressRule{Ports: tcpPorts(anyPorts)})
	}
	return rules
}

// validPorts returns the valid TCP ports of ports, sorted and without duplicates, in a new slice.
func validPorts(ports []int32) []int32 {
	out := slices.DeleteFunc(slices.Clone(ports), func(p int32) bool { return p < 1 || p > 65535 })
	slices.Sort(out)
	return slices.Compact(out)
}

// portsKey identifies a sorted port set, as a map key and the order of the origin rules.
// Offsetting each port by 100000 gives every number six digits, so string order is numeric order.
func portsKey(ports []int32) string {
	parts := make([]string, len(ports))
	for i, p := range ports {
		parts[i] = strconv.FormatInt(int64(p)+100000, 10)
	}
	return strings.Join(parts, ",")
}

// ipBlocks names each address as a single-host CIDR: /32 for IPv4, /128 for IPv6.
func ipBlocks(ips []netip.Addr) []networkingv1.NetworkPolicyPeer {
	peers := make([]networkingv1.NetworkPolicyPeer, 0, len(ips))
	for _, ip := range ips {
		cidr := netip.PrefixFrom(ip, ip.BitLen()).String()
		peers = append(peers, networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: cidr}})
	}
	return peers
}

// tcpPorts turns port numbers into NetworkPolicy TCP ports.
func tcpPorts(ports []int32) []networkingv1.NetworkPolicyPort {
	out := make([]networkingv1.NetworkPolicyPort, 0, len(ports))
	for _, p := range ports {
		out = append(out, port(corev1.ProtocolTCP, p))
	}
	return out
}

// port is one NetworkPolicy port.
func port(proto corev1.Protocol, p int32) networkingv1.NetworkPolicyPort {
	return networkingv1.NetworkPolicyPort{Protocol: new(proto), Port: new(intstr.FromInt32(p))}
}

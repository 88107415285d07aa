package connector

import (
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// PodPeer is the pods behind a Service that a service's serviceRef names. Traffic to a Service
// reaches its pods' addresses (kube-proxy or the CNI translates the ClusterIP first), and network
// plugins enforce egress policy on those pod addresses, so the policy names the pods by the
// Service's selector, on their target ports, rather than the ClusterIP.
type PodPeer struct {
	// Namespace of the pods (the Service's).
	Namespace string
	// Labels is the Service's selector.
	Labels map[string]string
	// Ports are the target ports: numbers, or names of container ports.
	Ports []intstr.IntOrString
}

// podRules allows each pod peer on its target ports, in an order that does not depend on the
// order of dests.
func podRules(dests []Destination) []networkingv1.NetworkPolicyEgressRule {
	byKey := map[string]networkingv1.NetworkPolicyEgressRule{}
	for _, d := range dests {
		p := d.Pods
		if p == nil || len(p.Labels) == 0 || len(p.Ports) == 0 {
			continue
		}
		ports := slices.Clone(p.Ports)
		slices.SortFunc(ports, func(a, b intstr.IntOrString) int { return strings.Compare(a.String(), b.String()) })
		ports = slices.CompactFunc(ports, func(a, b intstr.IntOrString) bool { return a.String() == b.String() })
		key := p.Namespace + "|" + labelsKey(p.Labels) + "|" + portsString(ports)
		byKey[key] = networkingv1.NetworkPolicyEgressRule{
			To: []networkingv1.NetworkPolicyPeer{{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: p.Namespace}},
				PodSelector:       &metav1.LabelSelector{MatchLabels: maps.Clone(p.Labels)},
			}},
			Ports: namedOrNumbered(ports),
		}
	}
	rules := make([]networkingv1.NetworkPolicyEgressRule, 0, len(byKey))
	for _, key := range slices.Sorted(maps.Keys(byKey)) {
		rules = append(rules, byKey[key])
	}
	return rules
}

func labelsKey(labels map[string]string) string {
	parts := make([]string, 0, len(labels))
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		parts = append(parts, k+"="+labels[k])
	}
	return strings.Join(parts, ",")
}

func portsString(ports []intstr.IntOrString) string {
	parts := make([]string, 0, len(ports))
	for _, p := range ports {
		parts = append(parts, p.String())
	}
	return strings.Join(parts, ",")
}

// namedOrNumbered turns target ports into TCP NetworkPolicy ports.
func namedOrNumbered(ports []intstr.IntOrString) []networkingv1.NetworkPolicyPort {
	out := make([]networkingv1.NetworkPolicyPort, 0, len(ports))
	for _, p := range ports {
		out = append(out, networkingv1.NetworkPolicyPort{Protocol: new(corev1.ProtocolTCP), Port: new(p)})
	}
	return out
}

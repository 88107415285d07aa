package connector

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestNetworkPolicyAllowsTheServicesPodsByLabel(t *testing.T) {
	web := Destination{Pods: &PodPeer{Namespace: "shop", Labels: map[string]string{"app": "web"},
		Ports: []intstr.IntOrString{intstr.FromString("http"), intstr.FromInt32(8080), intstr.FromInt32(8080)}}}
	db := Destination{Pods: &PodPeer{Namespace: "shop", Labels: map[string]string{"app": "db", "tier": "data"},
		Ports: []intstr.IntOrString{intstr.FromInt32(5432)}}}
	noSelector := Destination{Pods: &PodPeer{Namespace: "shop", Ports: []intstr.IntOrString{intstr.FromInt32(1)}}}

	a := NetworkPolicy(newTunnel(), []Destination{web, db, noSelector})
	b := NetworkPolicy(newTunnel(), []Destination{noSelector, db, web})
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the policy depends on the order of the destinations")
	}
	rules := a.Spec.Egress[2:]
	if len(rules) != 2 {
		t.Fatalf("want one rule per pod peer with a selector, got %d: %+v", len(rules), rules)
	}
	first := rules[0]
	if got := first.To[0].PodSelector.MatchLabels; !reflect.DeepEqual(got, map[string]string{"app": "db", "tier": "data"}) {
		t.Errorf("first rule selects %v, want the db pods (sorted first)", got)
	}
	if got := first.To[0].NamespaceSelector.MatchLabels[corev1.LabelMetadataName]; got != "shop" {
		t.Errorf("namespace selector %q, want shop", got)
	}
	ports := rules[1].Ports
	if len(ports) != 2 || ports[0].Port.String() != "8080" || ports[1].Port.String() != "http" {
		t.Errorf("web ports %v, want 8080 and the named port http, deduplicated", ports)
	}
	for _, r := range rules {
		for _, p := range r.To {
			if p.IPBlock != nil {
				t.Errorf("a pod peer became an ipBlock: %+v", p)
			}
		}
	}
}

package connector

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
)

// testToken looks like a real connector token: base64 JSON, so it can never be a hex substring.
const testToken = "eyJhIjoiMGFiYzEyMyIsInQiOiIwMTkxZGNlNCIsInMiOiJzZWNyZXQifQ=="

func newTunnel() *v1alpha1.CloudflareTunnel {
	return &v1alpha1.CloudflareTunnel{
		ObjectMeta: metav1.ObjectMeta{Name: "edge", Namespace: "apps"},
	}
}

func TestNames(t *testing.T) {
	tun := newTunnel()
	if got := DeploymentName(tun); got != "edge-cloudflared" {
		t.Errorf("DeploymentName = %q", got)
	}
	if got := SecretName(tun); got != "edge-cloudflared-token" {
		t.Errorf("SecretName = %q", got)
	}
}

func TestLabels(t *testing.T) {
	tun := newTunnel()
	wantSelector := map[string]string{
		"app.kubernetes.io/name":     "cloudflared",
		"app.kubernetes.io/instance": "edge",
		LabelTunnel:                  "edge",
	}
	if got := SelectorLabels(tun); !reflect.DeepEqual(got, wantSelector) {
		t.Errorf("SelectorLabels = %v, want %v", got, wantSelector)
	}
	want := map[string]string{
		"app.kubernetes.io/name":       "cloudflared",
		"app.kubernetes.io/instance":   "edge",
		"app.kubernetes.io/component":  "connector",
		"app.kubernetes.io/managed-by": "connectivity-operator",
		LabelTunnel:                    "edge",
	}
	if got := Labels(tun); !reflect.DeepEqual(got, want) {
		t.Errorf("Labels = %v, want %v", got, want)
	}
}

func TestEveryObjectHasTypeMetaNamespaceLabelsAndHash(t *testing.T) {
	tun := newTunnel()
	s := Secret(tun, testToken)
	d := Deployment(tun, TokenHash(testToken))
	p := PodDisruptionBudget(tun)
	n := NetworkPolicy(tun, nil)
	tests := []struct {
		obj      any
		typeMeta metav1.TypeMeta
		meta     *metav1.ObjectMeta
		wantName string
		wantType metav1.TypeMeta
	}{
		{s, s.TypeMeta, &s.ObjectMeta, "edge-cloudflared-token", metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}},
		{d, d.TypeMeta, &d.ObjectMeta, "edge-cloudflared", metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"}},
		{p, p.TypeMeta, &p.ObjectMeta, "edge-cloudflared", metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"}},
		{n, n.TypeMeta, &n.ObjectMeta, "edge-cloudflared", metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"}},
	}
	for _, tt := range tests {
		t.Run(tt.wantType.Kind, func(t *testing.T) {
			if tt.typeMeta != tt.wantType {
				t.Errorf("TypeMeta = %+v, want %+v", tt.typeMeta, tt.wantType)
			}
			if tt.meta.Name != tt.wantName || tt.meta.Namespace != "apps" {
				t.Errorf("name = %s/%s, want apps/%s", tt.meta.Namespace, tt.meta.Name, tt.wantName)
			}
			if !reflect.DeepEqual(tt.meta.Labels, Labels(tun)) {
				t.Errorf("labels = %v, want %v", tt.meta.Labels, Labels(tun))
			}
			if len(tt.meta.OwnerReferences) != 0 {
				t.Errorf("owner references are the controller's job, got %v", tt.meta.OwnerReferences)
			}
			assertSpecHash(t, tt.meta, tt.obj)
		})
	}
}

// assertSpecHash recomputes the spec hash independently: sha256 of the object's JSON without
// the hash annotation, 16 hex characters.
func assertSpecHash(t *testing.T, meta *metav1.ObjectMeta, obj any) {
	t.Helper()
	got := meta.Annotations[AnnotationSpecHash]
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(got) {
		t.Fatalf("spec hash %q is not 16 hex characters", got)
	}
	delete(meta.Annotations, AnnotationSpecHash)
	defer func() { meta.Annotations[AnnotationSpecHash] = got }()
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if want := hex.EncodeToString(sum[:])[:16]; got != want {
		t.Errorf("spec hash = %s, want %s (hash of the object without the annotation)", got, want)
	}
}

func TestSecret(t *testing.T) {
	s := Secret(newTunnel(), testToken)
	if s.Type != corev1.SecretTypeOpaque {
		t.Errorf("type = %q, want Opaque", s.Type)
	}
	if s.Immutable == nil || *s.Immutable {
		t.Errorf("immutable = %v, want false so a rotated token is written in place", s.Immutable)
	}
	want := map[string][]byte{TokenKey: []byte(testToken)}
	if !reflect.DeepEqual(s.Data, want) || len(s.StringData) != 0 {
		t.Errorf("data = %v, stringData = %v", s.Data, s.StringData)
	}
}

func TestDeploymentDefaults(t *testing.T) {
	tests := []struct {
		name         string
		connector    v1alpha1.ConnectorSpec
		wantImage    string
		wantReplicas int32
	}{
		{name: "defaults", wantImage: v1alpha1.DefaultConnectorImage, wantReplicas: 2},
		{
			name:         "from spec",
			connector:    v1alpha1.ConnectorSpec{Image: "mirror.example/cloudflared:2026.1.0", Replicas: new(int32(5))},
			wantImage:    "mirror.example/cloudflared:2026.1.0",
			wantReplicas: 5,
		},
		{name: "one replica", connector: v1alpha1.ConnectorSpec{Replicas: new(int32(1))}, wantImage: v1alpha1.DefaultConnectorImage, wantReplicas: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tun := newTunnel()
			tun.Spec.Connector = tt.connector
			d := Deployment(tun, "h")
			if got := *d.Spec.Replicas; got != tt.wantReplicas {
				t.Errorf("replicas = %d, want %d", got, tt.wantReplicas)
			}
			c := onlyContainer(t, d.Spec.Template.Spec)
			if c.Image != tt.wantImage {
				t.Errorf("image = %q, want %q", c.Image, tt.wantImage)
			}
		})
	}
}

func onlyContainer(t *testing.T, spec corev1.PodSpec) corev1.Container {
	t.Helper()
	if len(spec.Containers) != 1 || len(spec.InitContainers) != 0 {
		t.Fatalf("want exactly one container, got %d (+%d init)", len(spec.Containers), len(spec.InitContainers))
	}
	if spec.Containers[0].Name != "cloudflared" {
		t.Errorf("container name = %q, want cloudflared", spec.Containers[0].Name)
	}
	return spec.Containers[0]
}

func TestDeploymentShape(t *testing.T) {
	tun := newTunnel()
	d := Deployment(tun, "abc")
	sel := d.Spec.Selector
	if sel == nil || !reflect.DeepEqual(sel.MatchLabels, SelectorLabels(tun)) || len(sel.MatchExpressions) != 0 {
		t.Errorf("selector = %v, want %v", sel, SelectorLabels(tun))
	}
	if got := ptr.Deref(d.Spec.RevisionHistoryLimit, -1); got != 3 {
		t.Errorf("revisionHistoryLimit = %d, want 3", got)
	}
	ru := d.Spec.Strategy.RollingUpdate
	if d.Spec.Strategy.Type != "RollingUpdate" || ru == nil ||
		*ru.MaxUnavailable != intstr.FromInt32(0) || *ru.MaxSurge != intstr.FromInt32(1) {
		t.Errorf("strategy = %+v, want RollingUpdate maxUnavailable 0 maxSurge 1", d.Spec.Strategy)
	}
	tmpl := d.Spec.Template
	if !reflect.DeepEqual(tmpl.Labels, Labels(tun)) {
		t.Errorf("pod labels = %v, want %v", tmpl.Labels, Labels(tun))
	}
	if !reflect.DeepEqual(tmpl.Annotations, map[string]string{AnnotationTokenHash: "abc"}) {
		t.Errorf("pod annotations = %v", tmpl.Annotations)
	}
	pod := tmpl.Spec
	if !ptrIs(pod.AutomountServiceAccountToken, false) || !ptrIs(pod.EnableServiceLinks, false) ||
		!ptrIs(pod.TerminationGracePeriodSeconds, 30) {
		t.Errorf("automount = %v, serviceLinks = %v, grace = %v", pod.AutomountServiceAccountToken,
			pod.EnableServiceLinks, pod.TerminationGracePeriodSeconds)
	}
	c := onlyContainer(t, pod)
	wantPorts := []corev1.ContainerPort{{Name: "metrics", ContainerPort: 2000, Protocol: corev1.ProtocolTCP}}
	if !reflect.DeepEqual(c.Ports, wantPorts) {
		t.Errorf("ports = %+v", c.Ports)
	}
	if len(c.Command) != 0 {
		t.Errorf("command = %v, want none (the image's entrypoint)", c.Command)
	}
}

func ptrIs[T comparable](p *T, want T) bool { return p != nil && *p == want }

func TestArgs(t *testing.T) {
	tests := []struct {
		name  string
		extra []string
		want  []string
	}{
		{name: "no extra args", want: []string{"tunnel", "--no-autoupdate", "--metrics", "0.0.0.0:2000", "run"}},
		{
			name:  "extra args before run, in order",
			extra: []string{"--loglevel=debug", "--protocol", "quic"},
			want:  []string{"tunnel", "--no-autoupdate", "--metrics", "0.0.0.0:2000", "--loglevel=debug", "--protocol", "quic", "run"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tun := newTunnel()
			tun.Spec.Connector.ExtraArgs = tt.extra
			c := onlyContainer(t, Deployment(tun, "h").Spec.Template.Spec)
			if !reflect.DeepEqual(c.Args, tt.want) {
				t.Errorf("args = %q, want %q", c.Args, tt.want)
			}
		})
	}
}

func TestTokenOnlyViaSecretKeyRef(t *testing.T) {
	tun := newTunnel()
	d := Deployment(tun, TokenHash(testToken))
	c := onlyContainer(t, d.Spec.Template.Spec)
	want := []corev1.EnvVar{{
		Name: "TUNNEL_TOKEN",
		ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "edge-cloudflared-token"},
			Key:                  "token",
		}},
	}}
	if !reflect.DeepEqual(c.Env, want) || len(c.EnvFrom) != 0 {
		t.Errorf("env = %+v, envFrom = %+v", c.Env, c.EnvFrom)
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), testToken) {
		t.Errorf("the token appears in the Deployment: %s", b)
	}
}

func TestRestrictedPodSecurity(t *testing.T) {
	pod := Deployment(newTunnel(), "h").Spec.Template.Spec
	psc := pod.SecurityContext
	if psc == nil {
		t.Fatal("no pod securityContext")
	}
	if !ptrIs(psc.RunAsNonRoot, true) || !ptrIs(psc.RunAsUser, 65532) || !ptrIs(psc.RunAsGroup, 65532) ||
		!ptrIs(psc.FSGroup, 65532) {
		t.Errorf("pod runAs = nonRoot %v user %v group %v fsGroup %v", psc.RunAsNonRoot, psc.RunAsUser,
			psc.RunAsGroup, psc.FSGroup)
	}
	if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("seccompProfile = %v, want RuntimeDefault", psc.SeccompProfile)
	}
	wantSysctls := []corev1.Sysctl{{Name: "net.ipv4.ping_group_range", Value: "65532 65532"}}
	if !reflect.DeepEqual(psc.Sysctls, wantSysctls) {
		t.Errorf("sysctls = %v, want %v", psc.Sysctls, wantSysctls)
	}
	if pod.HostNetwork || pod.HostPID || pod.HostIPC || len(pod.Volumes) != 0 {
		t.Errorf("pod uses host namespaces or volumes: %+v", pod)
	}
	sc := onlyContainer(t, pod).SecurityContext
	if sc == nil {
		t.Fatal("no container securityContext")
	}
	if !ptrIs(sc.AllowPrivilegeEscalation, false) || !ptrIs(sc.ReadOnlyRootFilesystem, true) ||
		!ptrIs(sc.RunAsNonRoot, true) || sc.Privileged != nil && *sc.Privileged {
		t.Errorf("container securityContext = %+v", sc)
	}
	if sc.Capabilities == nil || !reflect.DeepEqual(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) ||
		len(sc.Capabilities.Add) != 0 {
		t.Errorf("capabilities = %+v, want drop ALL and add nothing", sc.Capabilities)
	}
	if sc.SeccompProfile != nil && sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("container seccompProfile overrides the pod's: %v", sc.SeccompProfile)
	}
}

func TestProbes(t *testing.T) {
	c := onlyContainer(t, Deployment(newTunnel(), "h").Spec.Template.Spec)
	get := &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(2000), Scheme: corev1.URISchemeHTTP}
	tests := []struct {
		name  string
		probe *corev1.Probe
		want  *corev1.Probe
	}{
		{"readiness", c.ReadinessProbe, &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: get}, PeriodSeconds: 10, FailureThreshold: 3,
		}},
		{"liveness", c.LivenessProbe, &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: get}, InitialDelaySeconds: 10, PeriodSeconds: 10,
			FailureThreshold: 6,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.probe, tt.want) {
				t.Errorf("probe = %+v, want %+v", tt.probe, tt.want)
			}
		})
	}
}

func TestResources(t *testing.T) {
	custom := &corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
	}
	tests := []struct {
		name string
		spec *corev1.ResourceRequirements
		want corev1.ResourceRequirements
	}{
		{name: "defaults", want: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse("10m"),
				corev1.ResourceMemory: resource.MustParse("64Mi"),
			},
			Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
		}},
		{name: "from spec, as given", spec: custom, want: *custom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tun := newTunnel()
			tun.Spec.Connector.Resources = tt.spec
			got := onlyContainer(t, Deployment(tun, "h").Spec.Template.Spec).Resources
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("resources = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestSchedulingFromSpec(t *testing.T) {
	tun := newTunnel()
	tun.Spec.Connector.NodeSelector = map[string]string{"pool": "edge"}
	tun.Spec.Connector.Tolerations = []corev1.Toleration{{Key: "edge", Operator: corev1.TolerationOpExists}}
	tun.Spec.Connector.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}}},
		}}},
	}}
	pod := Deployment(tun, "h").Spec.Template.Spec
	if !reflect.DeepEqual(pod.NodeSelector, tun.Spec.Connector.NodeSelector) ||
		!reflect.DeepEqual(pod.Tolerations, tun.Spec.Connector.Tolerations) ||
		!reflect.DeepEqual(pod.Affinity, tun.Spec.Connector.Affinity) {
		t.Errorf("scheduling = %v %v %v", pod.NodeSelector, pod.Tolerations, pod.Affinity)
	}
	pod.NodeSelector["pool"] = "changed"
	pod.Affinity.NodeAffinity = nil
	if tun.Spec.Connector.NodeSelector["pool"] != "edge" || tun.Spec.Connector.Affinity.NodeAffinity == nil {
		t.Error("the built pod aliases the tunnel's spec")
	}
}

func TestTopologySpread(t *testing.T) {
	tun := newTunnel()
	got := Deployment(tun, "h").Spec.Template.Spec.TopologySpreadConstraints
	want := make([]corev1.TopologySpreadConstraint, 0, 2)
	for _, key := range []string{"kubernetes.io/hostname", "topology.kubernetes.io/zone"} {
		want = append(want, corev1.TopologySpreadConstraint{
			MaxSkew: 1, TopologyKey: key, WhenUnsatisfiable: corev1.ScheduleAnyway,
			LabelSelector: &metav1.LabelSelector{MatchLabels: SelectorLabels(tun)},
		})
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("topologySpreadConstraints = %+v, want %+v", got, want)
	}
}

func TestPodDisruptionBudget(t *testing.T) {
	tun := newTunnel()
	p := PodDisruptionBudget(tun)
	want := policyv1.PodDisruptionBudgetSpec{
		MaxUnavailable:             new(intstr.FromInt32(1)),
		Selector:                   &metav1.LabelSelector{MatchLabels: SelectorLabels(tun)},
		UnhealthyPodEvictionPolicy: new(policyv1.AlwaysAllow),
	}
	if !reflect.DeepEqual(p.Spec, want) {
		t.Errorf("spec = %+v, want %+v", p.Spec, want)
	}
}

// rule is an expected origin rule: TCP ports to the given CIDRs, or to anywhere when cidrs is nil.
func rule(cidrs []string, ports ...int32) networkingv1.NetworkPolicyEgressRule {
	r := networkingv1.NetworkPolicyEgressRule{}
	for _, c := range cidrs {
		r.To = append(r.To, networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: c}})
	}
	for _, p := range ports {
		r.Ports = append(r.Ports, npPort(corev1.ProtocolTCP, p))
	}
	return r
}

func npPort(proto corev1.Protocol, p int32) networkingv1.NetworkPolicyPort {
	return networkingv1.NetworkPolicyPort{Protocol: &proto, Port: new(intstr.FromInt32(p))}
}

// fixedRules are the DNS and edge rules every policy starts with.
func fixedRules() []networkingv1.NetworkPolicyEgressRule {
	return []networkingv1.NetworkPolicyEgressRule{
		{Ports: []networkingv1.NetworkPolicyPort{npPort(corev1.ProtocolUDP, 53), npPort(corev1.ProtocolTCP, 53)}},
		{Ports: []networkingv1.NetworkPolicyPort{
			npPort(corev1.ProtocolUDP, 7844), npPort(corev1.ProtocolTCP, 7844), npPort(corev1.ProtocolTCP, 443),
		}},
	}
}

func ipService(typ v1alpha1.ServiceType, ipv4, ipv6 string) *v1alpha1.ConnectivityService {
	return &v1alpha1.ConnectivityService{Spec: v1alpha1.ConnectivityServiceSpec{
		Type: typ,
		Host: v1alpha1.ServiceHost{IPv4: ipv4, IPv6: ipv6, Network: &v1alpha1.Network{TunnelRef: &v1alpha1.TunnelReference{Name: "edge"}}},
	}}
}

func hostnameService(resolvers ...string) *v1alpha1.ConnectivityService {
	return &v1alpha1.ConnectivityService{Spec: v1alpha1.ConnectivityServiceSpec{
		Type: v1alpha1.ServiceTypeHTTP,
		Host: v1alpha1.ServiceHost{Hostname: "api.apps.svc.cluster.local", ResolverNetwork: &v1alpha1.ResolverNetwork{
			TunnelRef: &v1alpha1.TunnelReference{Name: "edge"}, ResolverIPs: resolvers,
		}},
	}}
}

func withPorts(svc *v1alpha1.ConnectivityService, http, https, tcp *int32) *v1alpha1.ConnectivityService {
	svc.Spec.HTTPPort, svc.Spec.HTTPSPort, svc.Spec.TCPPort = http, https, tcp
	return svc
}

// npCase is one NetworkPolicy expectation: the origin rules that follow the DNS and edge rules.
type npCase struct {
	name  string
	dests []Destination
	want  []networkingv1.NetworkPolicyEgressRule
}

func TestNetworkPolicyPerService(t *testing.T) {
	runNetworkPolicyCases(t, []npCase{
		{name: "no services: DNS and edge only"},
		{
			name:  "ipv4 tcp",
			dests: []Destination{DestinationOf(withPorts(ipService("tcp", "10.0.0.5", ""), nil, nil, new(int32(5432))))},
			want:  []networkingv1.NetworkPolicyEgressRule{rule([]string{"10.0.0.5/32"}, 5432)},
		},
		{
			name:  "ipv6 http default ports",
			dests: []Destination{DestinationOf(ipService("http", "", "fd00::5"))},
			want:  []networkingv1.NetworkPolicyEgressRule{rule([]string{"fd00::5/128"}, 80, 443)},
		},
		{
			name:  "dual stack: IPv4 first, one rule",
			dests: []Destination{DestinationOf(ipService("http", "10.0.0.5", "fd00::5"))},
			want:  []networkingv1.NetworkPolicyEgressRule{rule([]string{"10.0.0.5/32", "fd00::5/128"}, 80, 443)},
		},
		{
			name:  "explicit https port only",
			dests: []Destination{DestinationOf(withPorts(ipService("http", "10.0.0.5", ""), nil, new(int32(8443)), nil))},
			want:  []networkingv1.NetworkPolicyEgressRule{rule([]string{"10.0.0.5/32"}, 8443)},
		},
		{
			name:  "hostname: its ports to anywhere, resolvers covered by the DNS rule",
			dests: []Destination{DestinationOf(hostnameService("10.96.0.10"))},
			want:  []networkingv1.NetworkPolicyEgressRule{rule(nil, 80, 443)},
		},
	})
}

func TestNetworkPolicyMergesAndDedupes(t *testing.T) {
	runNetworkPolicyCases(t, []npCase{
		{
			name: "two services sharing a port set merge",
			dests: []Destination{
				{IPs: []string{"10.0.0.2"}, Ports: []int32{443, 80}},
				{IPs: []string{"10.0.0.1"}, Ports: []int32{80, 443}},
			},
			want: []networkingv1.NetworkPolicyEgressRule{rule([]string{"10.0.0.1/32", "10.0.0.2/32"}, 80, 443)},
		},
		{
			name: "different port sets stay apart, ordered by ports",
			dests: []Destination{
				{IPs: []string{"10.0.0.1"}, Ports: []int32{5432}},
				{IPs: []string{"10.0.0.2"}, Ports: []int32{3306}},
			},
			want: []networkingv1.NetworkPolicyEgressRule{
				rule([]string{"10.0.0.2/32"}, 3306),
				rule([]string{"10.0.0.1/32"}, 5432),
			},
		},
		{
			name: "one address in two services gets the union of their ports, no more",
			dests: []Destination{
				{IPs: []string{"10.0.0.1", "10.0.0.2"}, Ports: []int32{80}},
				{IPs: []string{"10.0.0.1"}, Ports: []int32{443}},
			},
			want: []networkingv1.NetworkPolicyEgressRule{
				rule([]string{"10.0.0.2/32"}, 80),
				rule([]string{"10.0.0.1/32"}, 80, 443),
			},
		},
		{
			name: "duplicates, invalid addresses and ports, and portless destinations are dropped",
			dests: []Destination{
				{IPs: []string{"10.0.0.1", "10.0.0.1", "not-an-ip", "fd00:0:0::1"}, Ports: []int32{22, 22, 0, 70000}},
				{IPs: []string{"10.0.0.9"}},
				{Ports: []int32{-1}},
			},
			want: []networkingv1.NetworkPolicyEgressRule{rule([]string{"10.0.0.1/32", "fd00::1/128"}, 22)},
		},
		{
			name: "hostname and IP services together",
			dests: []Destination{
				{Ports: []int32{8080}, ResolverIPs: []string{"10.96.0.10"}},
				{IPs: []string{"10.0.0.1"}, Ports: []int32{5432}},
				{Ports: []int32{443, 8080}},
			},
			want: []networkingv1.NetworkPolicyEgressRule{
				rule([]string{"10.0.0.1/32"}, 5432),
				rule(nil, 443, 8080),
			},
		},
	})
}

func runNetworkPolicyCases(t *testing.T, tests []npCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tun := newTunnel()
			np := NetworkPolicy(tun, tt.dests)
			if np == nil {
				t.Fatal("nil NetworkPolicy with networkPolicy unset")
			}
			if !reflect.DeepEqual(np.Spec.PodSelector.MatchLabels, SelectorLabels(tun)) ||
				!reflect.DeepEqual(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}) ||
				len(np.Spec.Ingress) != 0 {
				t.Errorf("podSelector = %v, policyTypes = %v, ingress = %v", np.Spec.PodSelector, np.Spec.PolicyTypes, np.Spec.Ingress)
			}
			want := append(fixedRules(), tt.want...)
			if !reflect.DeepEqual(np.Spec.Egress, want) {
				got, _ := json.Marshal(np.Spec.Egress)
				exp, _ := json.Marshal(want)
				t.Errorf("egress =\n%s\nwant\n%s", got, exp)
			}
		})
	}
}

func TestNetworkPolicyOrderIndependence(t *testing.T) {
	dests := []Destination{
		{IPs: []string{"10.0.0.1", "fd00::1"}, Ports: []int32{80, 443}},
		{IPs: []string{"10.0.0.2"}, Ports: []int32{443, 80}},
		{IPs: []string{"10.0.0.3"}, Ports: []int32{5432}},
		{IPs: []string{"10.0.0.1"}, Ports: []int32{8080}},
		{Ports: []int32{9000, 9001}, ResolverIPs: []string{"10.96.0.10", "1.1.1.1"}},
		{Ports: []int32{9001}},
	}
	want := NetworkPolicy(newTunnel(), dests)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 50 {
		shuffled := make([]Destination, len(dests))
		for j, d := range dests {
			shuffled[j] = Destination{IPs: slices.Clone(d.IPs), Ports: slices.Clone(d.Ports), ResolverIPs: slices.Clone(d.ResolverIPs)}
			rng.Shuffle(len(shuffled[j].IPs), func(a, b int) { shuffled[j].IPs[a], shuffled[j].IPs[b] = shuffled[j].IPs[b], shuffled[j].IPs[a] })
			rng.Shuffle(len(shuffled[j].Ports), func(a, b int) {
				shuffled[j].Ports[a], shuffled[j].Ports[b] = shuffled[j].Ports[b], shuffled[j].Ports[a]
			})
		}
		rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		got := NetworkPolicy(newTunnel(), shuffled)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("shuffle %d gives a different policy:\n%+v\nwant\n%+v", i, got.Spec.Egress, want.Spec.Egress)
		}
		if got.Annotations[AnnotationSpecHash] != want.Annotations[AnnotationSpecHash] {
			t.Fatalf("shuffle %d gives a different spec hash", i)
		}
	}
}

func TestNetworkPolicyDisabled(t *testing.T) {
	tests := []struct {
		name    string
		setting *bool
		wantNil bool
	}{
		{name: "unset means on", setting: nil},
		{name: "true", setting: new(true)},
		{name: "false", setting: new(false), wantNil: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tun := newTunnel()
			tun.Spec.Connector.NetworkPolicy = tt.setting
			got := NetworkPolicy(tun, []Destination{{IPs: []string{"10.0.0.1"}, Ports: []int32{80}}})
			if (got == nil) != tt.wantNil {
				t.Errorf("NetworkPolicy = %v, want nil %v", got, tt.wantNil)
			}
		})
	}
}

func TestDestinationOf(t *testing.T) {
	tests := []struct {
		name string
		svc  *v1alpha1.ConnectivityService
		want Destination
	}{
		{"ipv4 tcp", withPorts(ipService("tcp", "10.0.0.5", ""), nil, nil, new(int32(5432))),
			Destination{IPs: []string{"10.0.0.5"}, Ports: []int32{5432}}},
		{"tcp without port", ipService("tcp", "10.0.0.5", ""), Destination{IPs: []string{"10.0.0.5"}}},
		{"ipv6 http defaults", ipService("http", "", "fd00::5"),
			Destination{IPs: []string{"fd00::5"}, Ports: []int32{80, 443}}},
		{"dual stack", ipService("http", "10.0.0.5", "fd00::5"),
			Destination{IPs: []string{"10.0.0.5", "fd00::5"}, Ports: []int32{80, 443}}},
		{"http port only", withPorts(ipService("http", "10.0.0.5", ""), new(int32(8080)), nil, nil),
			Destination{IPs: []string{"10.0.0.5"}, Ports: []int32{8080}}},
		{"https port only", withPorts(ipService("http", "10.0.0.5", ""), nil, new(int32(8443)), nil),
			Destination{IPs: []string{"10.0.0.5"}, Ports: []int32{8443}}},
		{"both http ports", withPorts(ipService("http", "10.0.0.5", ""), new(int32(8080)), new(int32(8443)), nil),
			Destination{IPs: []string{"10.0.0.5"}, Ports: []int32{8080, 8443}}},
		{"hostname with resolvers", hostnameService("10.96.0.10", "fd00::a"),
			Destination{Ports: []int32{80, 443}, ResolverIPs: []string{"10.96.0.10", "fd00::a"}}},
		{"hostname without resolvers", hostnameService(), Destination{Ports: []int32{80, 443}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DestinationOf(tt.svc); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("DestinationOf = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestSpecHashChangesOnlyWithContent(t *testing.T) {
	base := newTunnel()
	hash := func(tun *v1alpha1.CloudflareTunnel, tokenHash string) string {
		return Deployment(tun, tokenHash).Annotations[AnnotationSpecHash]
	}
	baseHash := hash(base, "t1")
	tests := []struct {
		name       string
		mutate     func(*v1alpha1.CloudflareTunnel)
		tokenHash  string
		wantChange bool
	}{
		{name: "nothing", mutate: func(*v1alpha1.CloudflareTunnel) {}},
		{name: "explicit default replicas", mutate: func(tn *v1alpha1.CloudflareTunnel) { tn.Spec.Connector.Replicas = new(int32(2)) }},
		{name: "explicit default image", mutate: func(tn *v1alpha1.CloudflareTunnel) { tn.Spec.Connector.Image = v1alpha1.DefaultConnectorImage }},
		{name: "status, generation and unrelated spec", mutate: func(tn *v1alpha1.CloudflareTunnel) {
			tn.Generation, tn.ResourceVersion = 7, "42"
			tn.Status.TunnelID, tn.Status.Connections = "0191dce4-9ab4-7fce-b660-8e5dec5172da", 4
			tn.Spec.DeletionPolicy = v1alpha1.DeletionPolicyOrphan
			tn.Spec.Connector.NetworkPolicy = new(false)
		}},
		{name: "replicas", mutate: func(tn *v1alpha1.CloudflareTunnel) { tn.Spec.Connector.Replicas = new(int32(3)) }, wantChange: true},
		{name: "image", mutate: func(tn *v1alpha1.CloudflareTunnel) { tn.Spec.Connector.Image = "cloudflare/cloudflared:2026.1.0" }, wantChange: true},
		{name: "extra args", mutate: func(tn *v1alpha1.CloudflareTunnel) { tn.Spec.Connector.ExtraArgs = []string{"--loglevel=debug"} }, wantChange: true},
		{name: "token", mutate: func(*v1alpha1.CloudflareTunnel) {}, tokenHash: "t2", wantChange: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tun := base.DeepCopy()
			tt.mutate(tun)
			th := cmp.Or(tt.tokenHash, "t1")
			if got := hash(tun, th); (got != baseHash) != tt.wantChange {
				t.Errorf("hash %s vs base %s, want change %v", got, baseHash, tt.wantChange)
			}
		})
	}
}

func TestSecretHashFollowsToken(t *testing.T) {
	a := Secret(newTunnel(), "token-a").Annotations[AnnotationSpecHash]
	if a != Secret(newTunnel(), "token-a").Annotations[AnnotationSpecHash] {
		t.Error("the same token gives different hashes")
	}
	if a == Secret(newTunnel(), "token-b").Annotations[AnnotationSpecHash] {
		t.Error("a rotated token does not change the Secret's hash, so it would never be applied")
	}
}

func TestTokenHash(t *testing.T) {
	tokens := []string{testToken, "0123456789abcdef", "a", ""}
	seen := map[string]string{}
	for _, tok := range tokens {
		h := TokenHash(tok)
		if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(h) {
			t.Errorf("TokenHash(%d chars) = %q, want 16 hex characters", len(tok), h)
		}
		if len(tok) > 1 && strings.Contains(h, tok) {
			t.Errorf("TokenHash contains the token")
		}
		if h != TokenHash(tok) {
			t.Error("TokenHash is not deterministic")
		}
		if other, dup := seen[h]; dup {
			t.Errorf("tokens %q and %q hash alike", other, tok)
		}
		seen[h] = tok
	}
	d := Deployment(newTunnel(), TokenHash(testToken))
	if got := d.Spec.Template.Annotations[AnnotationTokenHash]; got != TokenHash(testToken) {
		t.Errorf("pod template token hash = %q", got)
	}
}

func TestSpecHashIgnoresAStaleHash(t *testing.T) {
	fresh := PodDisruptionBudget(newTunnel())
	stale := fresh.DeepCopy()
	stale.Annotations[AnnotationSpecHash] = "0000000000000000"
	setSpecHash(&stale.ObjectMeta, stale)
	if got, want := stale.Annotations[AnnotationSpecHash], fresh.Annotations[AnnotationSpecHash]; got != want {
		t.Errorf("rehashing an object with a stale hash gives %s, want %s", got, want)
	}
}

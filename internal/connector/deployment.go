package connector

import (
	"maps"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
)

const (
	// defaultReplicas matches the CRD default: two connectors survive one node going away.
	defaultReplicas int32 = 2
	// nonRootID is the uid and gid of the distroless nonroot user the cloudflared image uses.
	nonRootID int64 = 65532
	// containerName is the name of the only container in a connector pod.
	containerName = "cloudflared"
)

// Deployment runs cloudflared for the tunnel under the restricted Pod Security Standard. The token
// comes only from the Secret (SecretName), never inline; tokenHash (TokenHash of the current
// token) on the pod template rolls the pods when the token changes.
//
// Rolling updates use maxSurge 1 and maxUnavailable 0: a new connector is up before an old one
// goes, so the tunnel keeps a connection even with one replica.
func Deployment(t *v1alpha1.CloudflareTunnel, tokenHash string) *appsv1.Deployment {
	replicas := defaultReplicas
	if t.Spec.Connector.Replicas != nil {
		replicas = *t.Spec.Connector.Replicas
	}
	d := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: objectMeta(t, DeploymentName(t)),
		Spec: appsv1.DeploymentSpec{
			Replicas:             new(replicas),
			RevisionHistoryLimit: new(int32(3)),
			Selector:             &metav1.LabelSelector{MatchLabels: SelectorLabels(t)},
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxUnavailable: new(intstr.FromInt32(0)),
					MaxSurge:       new(intstr.FromInt32(1)),
				},
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels:      Labels(t),
					Annotations: map[string]string{AnnotationTokenHash: tokenHash},
				},
				Spec: podSpec(t),
			},
		},
	}
	setSpecHash(&d.ObjectMeta, d)
	return d
}

// podSpec is the connector pod: no API credentials and no service env vars (cloudflared needs
// neither), restricted security settings, and spread over nodes and zones.
func podSpec(t *v1alpha1.CloudflareTunnel) corev1.PodSpec {
	c := t.Spec.Connector
	spec := corev1.PodSpec{
		AutomountServiceAccountToken:  new(false),
		EnableServiceLinks:            new(false),
		TerminationGracePeriodSeconds: new(int64(30)),
		SecurityContext:               podSecurityContext(),
		Containers:                    []corev1.Container{container(t)},
		NodeSelector:                  maps.Clone(c.NodeSelector),
		TopologySpreadConstraints:     topologySpread(t),
	}
	for i := range c.Tolerations {
		spec.Tolerations = append(spec.Tolerations, *c.Tolerations[i].DeepCopy())
	}
	if c.Affinity != nil {
		spec.Affinity = c.Affinity.DeepCopy()
	}
	return spec
}

// podSecurityContext meets the restricted Pod Security Standard. ping_group_range is a safe sysctl
// that restricted allows; it lets the non-root cloudflared open ICMP sockets to proxy ping.
func podSecurityContext() *corev1.PodSecurityContext {
	return &corev1.PodSecurityContext{
		RunAsNonRoot:   new(true),
		RunAsUser:      new(nonRootID),
		RunAsGroup:     new(nonRootID),
		FSGroup:        new(nonRootID),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		Sysctls: []corev1.Sysctl{
			{Name: "net.ipv4.ping_group_range", Value: "65532 65532"},
		},
	}
}

// container is cloudflared itself. No command is set, so the image's entrypoint (cloudflared)
// runs; the token reaches it only through TUNNEL_TOKEN from the Secret.
func container(t *v1alpha1.CloudflareTunnel) corev1.Container {
	image := t.Spec.Connector.Image
	if image == "" {
		image = v1alpha1.DefaultConnectorImage
	}
	return corev1.Container{
		Name:  containerName,
		Image: image,
		Args:  args(t),
		Env: []corev1.EnvVar{{
			Name: "TUNNEL_TOKEN",
			ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: SecretName(t)},
				Key:                  TokenKey,
			}},
		}},
		Ports: []corev1.ContainerPort{
			{Name: "metrics", ContainerPort: MetricsPort, Protocol: corev1.ProtocolTCP},
		},
		ReadinessProbe:  readyProbe(0, 3),
		LivenessProbe:   readyProbe(10, 6),
		Resources:       resources(t),
		SecurityContext: containerSecurityContext(),
	}
}

// args puts the user's extraArgs after the tunnel-level flags and before `run`, where
// `cloudflared tunnel` flags such as --loglevel must go.
func args(t *v1alpha1.CloudflareTunnel) []string {
	a := []string{"tunnel", "--no-autoupdate", "--metrics", "0.0.0.0:2000"}
	a = append(a, t.Spec.Connector.ExtraArgs...)
	return append(a, "run")
}

// readyProbe probes cloudflared's /ready, which answers 200 only while the connector holds at
// least one edge connection. Liveness gets more failures than readiness, so a short edge outage
// takes a pod out of rotation before it restarts it.
func readyProbe(initialDelay, failureThreshold int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path:   "/ready",
			Port:   intstr.FromInt32(MetricsPort),
			Scheme: corev1.URISchemeHTTP,
		}},
		InitialDelaySeconds: initialDelay,
		PeriodSeconds:       10,
		FailureThreshold:    failureThreshold,
	}
}

// resources are spec.connector.resources, or small defaults when unset: cloudflared idles at a
// few millicores and tens of MiB. The memory limit stops a leak from starving the node; there is
// no CPU limit, since throttling a proxy only adds latency.
func resources(t *v1alpha1.CloudflareTunnel) corev1.ResourceRequirements {
	if r := t.Spec.Connector.Resources; r != nil {
		return *r.DeepCopy()
	}
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("10m"),
			corev1.ResourceMemory: resource.MustParse("64Mi"),
		},
		Limits: corev1.ResourceList{
			corev1.ResourceMemory: resource.MustParse("256Mi"),
		},
	}
}

// containerSecurityContext is the container half of the restricted Pod Security Standard;
// cloudflared running from a token writes nothing to disk, so the root filesystem is read-only.
func containerSecurityContext() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: new(false),
		ReadOnlyRootFilesystem:   new(true),
		RunAsNonRoot:             new(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
}

// topologySpread spreads connectors over nodes and zones so one failure does not take the whole
// tunnel down; ScheduleAnyway keeps small clusters able to run every replica.
func topologySpread(t *v1alpha1.CloudflareTunnel) []corev1.TopologySpreadConstraint {
	keys := []string{"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
	out := make([]corev1.TopologySpreadConstraint, 0, len(keys))
	for _, key := range keys {
		out = append(out, corev1.TopologySpreadConstraint{
			MaxSkew:           1,
			TopologyKey:       key,
			WhenUnsatisfiable: corev1.ScheduleAnyway,
			LabelSelector:     &metav1.LabelSelector{MatchLabels: SelectorLabels(t)},
		})
	}
	return out
}

// PodDisruptionBudget lets voluntary disruptions take one connector at a time. maxUnavailable
// (not minAvailable) never blocks a node drain, even with one replica, and AlwaysAllow lets a
// drain evict pods that are not ready anyway, such as a crash-looping connector.
func PodDisruptionBudget(t *v1alpha1.CloudflareTunnel) *policyv1.PodDisruptionBudget {
	p := &policyv1.PodDisruptionBudget{
		TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
		ObjectMeta: objectMeta(t, DeploymentName(t)),
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable:             new(intstr.FromInt32(1)),
			Selector:                   &metav1.LabelSelector{MatchLabels: SelectorLabels(t)},
			UnhealthyPodEvictionPolicy: new(policyv1.AlwaysAllow),
		},
	}
	setSpecHash(&p.ObjectMeta, p)
	return p
}

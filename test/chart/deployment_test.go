package chart

import (
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// defaultShutdownTimeout is the manager's --graceful-shutdown-timeout default.
const defaultShutdownTimeout = 20 * time.Second

// managerContainer returns the Deployment's container named manager.
func managerContainer(t *testing.T, dep *appsv1.Deployment) *corev1.Container {
	t.Helper()
	for i := range dep.Spec.Template.Spec.Containers {
		if c := &dep.Spec.Template.Spec.Containers[i]; c.Name == "manager" {
			return c
		}
	}
	t.Fatalf("Deployment %s has no container named manager", dep.Name)
	return nil
}

// flagValue returns the value of --name=value among args.
func flagValue(args []string, name string) (string, bool) {
	for _, arg := range args {
		if v, ok := strings.CutPrefix(arg, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// assertManagerDeployment checks what every rendering of the manager must satisfy: the restricted
// Pod Security Standard on pod and container, resources, probes on the health port, POD_NAMESPACE
// from the downward API, a grace period longer than the graceful shutdown, only real manager
// flags, and the arguments in wantArgs.
func assertManagerDeployment(t *testing.T, dep *appsv1.Deployment, wantArgs []string) {
	t.Helper()
	c := managerContainer(t, dep)
	assertPodSecurity(t, &dep.Spec.Template.Spec)
	assertContainerSecurity(t, c.SecurityContext)
	assertResources(t, c.Resources)
	assertProbe(t, c, "livenessProbe", c.LivenessProbe, "/healthz")
	assertProbe(t, c, "readinessProbe", c.ReadinessProbe, "/readyz")

	if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool {
		return e.Name == "POD_NAMESPACE" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil &&
			e.ValueFrom.FieldRef.FieldPath == "metadata.namespace"
	}) {
		t.Errorf("env POD_NAMESPACE does not come from metadata.namespace: %+v", c.Env)
	}

	shutdown := defaultShutdownTimeout
	if v, ok := flagValue(c.Args, "graceful-shutdown-timeout"); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Errorf("--graceful-shutdown-timeout=%s: %v", v, err)
		}
		shutdown = d
	}
	grace := dep.Spec.Template.Spec.TerminationGracePeriodSeconds
	if grace == nil || time.Duration(*grace)*time.Second <= shutdown {
		t.Errorf("terminationGracePeriodSeconds %v must exceed the graceful shutdown timeout %s", grace, shutdown)
	}

	if !slices.Equal(c.Command, []string{"/manager"}) {
		t.Errorf("command = %v, want [/manager]", c.Command)
	}
	for _, want := range wantArgs {
		if !slices.Contains(c.Args, want) {
			t.Errorf("args %v lack %s", c.Args, want)
		}
	}
	assertKnownFlags(t, c.Args)
}

// assertPodSecurity checks the pod-level part of the restricted Pod Security Standard.
func assertPodSecurity(t *testing.T, pod *corev1.PodSpec) {
	t.Helper()
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Errorf("pod securityContext.runAsNonRoot is not true: %+v", psc)
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext.seccompProfile is not RuntimeDefault: %+v", psc)
	}
	if pod.HostNetwork || pod.HostPID || pod.HostIPC {
		t.Errorf("pod shares a host namespace")
	}
	for _, v := range pod.Volumes {
		if v.HostPath != nil {
			t.Errorf("pod mounts host path %s", v.HostPath.Path)
		}
	}
}

// assertContainerSecurity checks the container-level part of the restricted Pod Security Standard,
// and a read-only root filesystem.
func assertContainerSecurity(t *testing.T, sc *corev1.SecurityContext) {
	t.Helper()
	switch {
	case sc == nil:
		t.Errorf("container manager has no securityContext")
	case sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot:
		t.Errorf("container securityContext.runAsNonRoot is not true")
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Errorf("container securityContext.readOnlyRootFilesystem is not true")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Errorf("container securityContext.allowPrivilegeEscalation is not false")
	case sc.Privileged != nil && *sc.Privileged:
		t.Errorf("container is privileged")
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) ||
		len(sc.Capabilities.Add) > 0:
		t.Errorf("container capabilities are not drop [ALL], add none: %+v", sc.Capabilities)
	case sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Errorf("container securityContext.seccompProfile is not RuntimeDefault")
	}
}

// assertResources checks that CPU and memory have requests and limits, requests within limits.
func assertResources(t *testing.T, res corev1.ResourceRequirements) {
	t.Helper()
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, lim := res.Requests[name], res.Limits[name]
		if req.IsZero() || lim.IsZero() {
			t.Errorf("%s request (%s) and limit (%s) must both be set", name, req.String(), lim.String())
		} else if req.Cmp(lim) > 0 {
			t.Errorf("%s request %s exceeds the limit %s", name, req.String(), lim.String())
		}
	}
}

// assertProbe checks an HTTP probe of path on the health probe port (:8081).
func assertProbe(t *testing.T, c *corev1.Container, what string, p *corev1.Probe, path string) {
	t.Helper()
	if p == nil || p.HTTPGet == nil {
		t.Errorf("%s is not an HTTP probe", what)
		return
	}
	if p.HTTPGet.Path != path {
		t.Errorf("%s path = %s, want %s", what, p.HTTPGet.Path, path)
	}
	port := p.HTTPGet.Port
	if port.Type == intstr.String {
		for _, cp := range c.Ports {
			if cp.Name == port.StrVal {
				port = intstr.FromInt32(cp.ContainerPort)
			}
		}
	}
	if port.IntValue() != 8081 {
		t.Errorf("%s port = %s, want the health probe port 8081", what, p.HTTPGet.Port.String())
	}
}

package chart

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// kustomizeBuild runs `kustomize build` on a directory.
func kustomizeBuild(t *testing.T, dir string) []byte {
	t.Helper()
	return run(t, kustomize(t), "build", dir)
}

// optionalConfig returns a copy of config/ whose config/default also includes the parts that
// kubebuilder leaves commented out: the NetworkPolicy and the Prometheus ServiceMonitor.
func optionalConfig(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "config")
	if err := os.CopyFS(dst, os.DirFS(filepath.Join(repoRoot, "config"))); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dst, "default", "kustomization.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for _, line := range []string{"#- ../network-policy\n", "#- ../prometheus\n"} {
		if !strings.Contains(text, line) {
			t.Fatalf("config/default/kustomization.yaml has no %q to uncomment", strings.TrimSpace(line))
		}
		text = strings.Replace(text, line, strings.TrimPrefix(line, "#"), 1)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dst, "default")
}

// TestKustomizeDefault checks what `make deploy` applies: the hardened manager in
// connectivity-operator-system with leader election, health probes and HTTPS metrics on 8443, its
// ServiceAccount, and the metrics Service in front of it.
func TestKustomizeDefault(t *testing.T) {
	objs := parseObjects(t, kustomizeBuild(t, filepath.Join(repoRoot, "config", "default")))
	dep := typed[appsv1.Deployment](t, only(t, objs, "Deployment"))
	assertManagerDeployment(t, dep, []string{
		"--leader-elect",
		"--health-probe-bind-address=:8081",
		"--metrics-bind-address=:8443",
	})
	if dep.Namespace != namespace {
		t.Errorf("Deployment namespace = %q, want %s", dep.Namespace, namespace)
	}
	if *dep.Spec.Replicas != 1 {
		t.Errorf("replicas = %d, want 1", *dep.Spec.Replicas)
	}
	ns := only(t, objs, "Namespace")
	if ns.GetName() != namespace || ns.GetLabels()["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Errorf("Namespace %s labels %v, want %s enforcing the restricted standard", ns.GetName(), ns.GetLabels(), namespace)
	}
	sa := only(t, objs, "ServiceAccount")
	if got := dep.Spec.Template.Spec.ServiceAccountName; got != sa.GetName() {
		t.Errorf("serviceAccountName = %q, want the ServiceAccount %s", got, sa.GetName())
	}
	assertBindings(t, objs, sa.GetName())

	svc := typed[corev1.Service](t, only(t, objs, "Service"))
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 8443 {
		t.Errorf("metrics Service ports = %+v, want 8443", svc.Spec.Ports)
	}
	assertSelects(t, svc.Spec.Selector, dep)
	assertTargetPort(t, svc, managerContainer(t, dep))

	if n := len(ofKind(objs, "NetworkPolicy")) + len(ofKind(objs, "ServiceMonitor")); n > 0 {
		t.Errorf("config/default includes %d optional NetworkPolicy/ServiceMonitor objects; they are opt-in", n)
	}
}

// TestKustomizeOptional checks the opt-in parts of config/default: the NetworkPolicy admits only
// metrics traffic from namespaces labelled metrics: enabled, and the ServiceMonitor scrapes the
// metrics Service.
func TestKustomizeOptional(t *testing.T) {
	objs := parseObjects(t, kustomizeBuild(t, optionalConfig(t)))
	dep := typed[appsv1.Deployment](t, only(t, objs, "Deployment"))
	assertNetworkPolicy(t, typed[networkingv1.NetworkPolicy](t, only(t, objs, "NetworkPolicy")), dep, 8443)
	assertServiceMonitor(t, only(t, objs, "ServiceMonitor"), typed[corev1.Service](t, only(t, objs, "Service")))
}

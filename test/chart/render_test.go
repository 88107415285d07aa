package chart

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestHelmLint lints the chart strictly (warnings fail) with its defaults and with every option on.
func TestHelmLint(t *testing.T) {
	for name, args := range map[string][]string{"defaults": nil, "all options": allOptions()} {
		t.Run(name, func(t *testing.T) {
			run(t, helm(t), append([]string{"lint", "--strict", chartDir, "--namespace", namespace}, args...)...)
		})
	}
}

// TestRenderDefaults checks the manager that a plain `helm install` runs: hardened, with the
// flags' documented defaults, leader election, secure metrics and the release namespace for
// ClusterCloudflareAccount Secrets; and no optional objects.
func TestRenderDefaults(t *testing.T) {
	objs := parseObjects(t, helmTemplate(t))
	dep := typed[appsv1.Deployment](t, only(t, objs, "Deployment"))
	assertManagerDeployment(t, dep, []string{
		"--leader-elect",
		"--health-probe-bind-address=:8081",
		"--metrics-bind-address=:8443",
		"--metrics-secure=true",
		"--cluster-resource-namespace=" + namespace,
		"--zap-log-level=info",
		"--zap-encoder=json",
		"--cloudflare-api-timeout=30s",
		"--cloudflare-requests-per-5m=1000",
		"--cloudflare-burst=20",
		"--resync-interval=10m",
		"--account-verify-interval=1h",
		"--max-concurrent-reconciles=4",
		"--graceful-shutdown-timeout=20s",
		"--cluster-domain=cluster.local",
	})
	c := managerContainer(t, dep)
	if _, ok := flagValue(c.Args, "cloudflare-api-url"); ok {
		t.Errorf("--cloudflare-api-url is set by default; the manager's own default should apply")
	}
	if c.Image != "ghcr.io/workersvpc/connectivity-operator:0.2.0" {
		t.Errorf("image = %s, want the appVersion tag", c.Image)
	}
	if got := *dep.Spec.Replicas; got != 1 {
		t.Errorf("replicas = %d, want 1", got)
	}
	if dep.Namespace != namespace {
		t.Errorf("Deployment namespace = %q, want the release namespace", dep.Namespace)
	}

	svc := typed[corev1.Service](t, only(t, objs, "Service"))
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 8443 || svc.Spec.Ports[0].Name != "https" {
		t.Errorf("metrics Service ports = %+v, want https 8443", svc.Spec.Ports)
	}
	assertSelects(t, svc.Spec.Selector, dep)
	assertTargetPort(t, svc, c)

	for _, kind := range []string{"ServiceMonitor", "NetworkPolicy", "ClusterCloudflareAccount"} {
		if found := ofKind(objs, kind); len(found) > 0 {
			t.Errorf("%s rendered by default", kind)
		}
	}
}

// TestRenderAllOptions checks that every value of the all-options file reaches the manifests.
func TestRenderAllOptions(t *testing.T) {
	objs := parseObjects(t, helmTemplate(t, allOptions()...))
	dep := typed[appsv1.Deployment](t, only(t, objs, "Deployment"))
	assertManagerDeployment(t, dep, []string{
		"--leader-elect",
		"--metrics-bind-address=:9443",
		"--metrics-secure=true",
		"--cluster-resource-namespace=" + namespace,
		"--zap-log-level=debug",
		"--zap-encoder=console",
		"--cloudflare-api-url=http://fake-cloudflare-api.cloudflare-fake.svc:8080/client/v4",
		"--cloudflare-api-timeout=15s",
		"--cloudflare-requests-per-5m=600",
		"--cloudflare-burst=10",
		"--resync-interval=5m",
		"--account-verify-interval=30m",
		"--max-concurrent-reconciles=8",
		"--graceful-shutdown-timeout=25s",
		"--cluster-domain=k8s.example.internal",
		"--cluster-dns-ip=10.96.0.10",
		"--cluster-dns-ip=fd00:10:96::a",
		"--zap-stacktrace-level=panic",
	})
	pod := dep.Spec.Template
	c := managerContainer(t, dep)
	checks := map[string]bool{
		"replicas 2":          *dep.Spec.Replicas == 2,
		"image":               c.Image == "registry.example.com/platform/connectivity-operator:v0.1.0-rc.1",
		"pull policy":         c.ImagePullPolicy == corev1.PullAlways,
		"pull secret":         len(pod.Spec.ImagePullSecrets) == 1 && pod.Spec.ImagePullSecrets[0].Name == "regcred",
		"pod annotation":      pod.Annotations["example.com/scrape-note"] != "",
		"default container":   pod.Annotations["kubectl.kubernetes.io/default-container"] == "manager",
		"pod label":           pod.Labels["example.com/team"] == "platform",
		"node selector":       pod.Spec.NodeSelector["kubernetes.io/os"] == "linux",
		"toleration":          len(pod.Spec.Tolerations) == 1 && pod.Spec.Tolerations[0].Key == "dedicated",
		"affinity":            pod.Spec.Affinity != nil && pod.Spec.Affinity.NodeAffinity != nil,
		"priority class":      pod.Spec.PriorityClassName == "system-cluster-critical",
		"grace period 40s":    *pod.Spec.TerminationGracePeriodSeconds == 40,
		"extra env":           slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "GOMEMLIMIT" }),
		"service account":     pod.Spec.ServiceAccountName == "connectivity-operator",
		"pod runAsUser 65532": pod.Spec.SecurityContext.RunAsUser != nil && *pod.Spec.SecurityContext.RunAsUser == 65532,
		"cpu limit 1":         c.Resources.Limits.Cpu().String() == "1",
	}
	for what, ok := range checks {
		if !ok {
			t.Errorf("all options: %s not rendered", what)
		}
	}
	if sa := find(objs, "ServiceAccount", "connectivity-operator"); sa == nil ||
		sa.GetAnnotations()["example.com/owner"] != "platform-team" {
		t.Errorf("ServiceAccount connectivity-operator with its annotations not rendered")
	}

	svc := typed[corev1.Service](t, only(t, objs, "Service"))
	assertSelects(t, svc.Spec.Selector, dep)
	assertTargetPort(t, svc, c)

	assertServiceMonitor(t, only(t, objs, "ServiceMonitor"), svc)
	assertNetworkPolicy(t, typed[networkingv1.NetworkPolicy](t, only(t, objs, "NetworkPolicy")), dep, 9443)

	account := only(t, objs, "ClusterCloudflareAccount")
	if account.GetName() != "default" {
		t.Errorf("default account is named %q, want default", account.GetName())
	}
	if hook := account.GetAnnotations()["helm.sh/hook"]; hook != "post-install,post-upgrade" {
		t.Errorf("default account hook = %q: Helm cannot create it in the release that installs its CRD", hook)
	}
	assertNested(t, account, "023e105f4ecef8ad9ca31a8372d0c353", "spec", "accountID")
	assertNested(t, account, "cloudflare-credentials", "spec", "secretRef", "name")
	assertNested(t, account, "cloudflare-secrets", "spec", "secretRef", "namespace")
	assertNested(t, account, int64(600), "spec", "rateLimit", "requestsPer5m")
}

// TestRenderOptions checks the switches one at a time against the defaults.
func TestRenderOptions(t *testing.T) {
	const accountArgs = "defaultAccount.enabled=true,defaultAccount.accountID=023e105f4ecef8ad9ca31a8372d0c353," +
		"defaultAccount.secretName=cloudflare-credentials"
	cases := []struct {
		name  string
		set   string
		check func(t *testing.T, objs []*unstructured.Unstructured, args []string)
	}{{
		name: "metrics off",
		set:  "metrics.enabled=false,metrics.serviceMonitor.enabled=true,networkPolicy.enabled=true",
		check: func(t *testing.T, objs []*unstructured.Unstructured, args []string) {
			if !slices.Contains(args, "--metrics-bind-address=0") {
				t.Errorf("args %v do not disable metrics", args)
			}
			for _, kind := range []string{"Service", "ServiceMonitor"} {
				if len(ofKind(objs, kind)) > 0 {
					t.Errorf("%s rendered with metrics off", kind)
				}
			}
			if find(objs, "ClusterRole", releaseName+"-metrics-auth-role") != nil {
				t.Errorf("metrics auth role rendered with metrics off")
			}
			np := typed[networkingv1.NetworkPolicy](t, only(t, objs, "NetworkPolicy"))
			if len(np.Spec.Ingress) != 0 {
				t.Errorf("NetworkPolicy admits ingress with metrics off: %+v", np.Spec.Ingress)
			}
		},
	}, {
		name: "plain HTTP metrics",
		set:  "metrics.secure=false,metrics.port=8080,metrics.serviceMonitor.enabled=true",
		check: func(t *testing.T, objs []*unstructured.Unstructured, args []string) {
			for _, want := range []string{"--metrics-secure=false", "--metrics-bind-address=:8080"} {
				if !slices.Contains(args, want) {
					t.Errorf("args %v lack %s", args, want)
				}
			}
			svc := typed[corev1.Service](t, only(t, objs, "Service"))
			if svc.Spec.Ports[0].Name != "http" || svc.Spec.Ports[0].Port != 8080 {
				t.Errorf("metrics Service port = %+v, want http 8080", svc.Spec.Ports[0])
			}
			if find(objs, "ClusterRole", releaseName+"-metrics-auth-role") != nil {
				t.Errorf("metrics auth role rendered for plain HTTP metrics")
			}
			assertServiceMonitor(t, only(t, objs, "ServiceMonitor"), svc)
		},
	}, {
		name: "leader election off",
		set:  "leaderElection.enabled=false",
		check: func(t *testing.T, objs []*unstructured.Unstructured, args []string) {
			if slices.Contains(args, "--leader-elect") {
				t.Errorf("--leader-elect with leader election off")
			}
			if find(objs, "Role", releaseName+"-leader-election-role") != nil ||
				find(objs, "RoleBinding", releaseName+"-leader-election-rolebinding") != nil {
				t.Errorf("leader election Role rendered with leader election off")
			}
			if find(objs, "Role", releaseName+"-reservation-role") == nil ||
				find(objs, "RoleBinding", releaseName+"-reservation-rolebinding") == nil {
				t.Errorf("name reservation Role missing with leader election off: the manager needs it always")
			}
		},
	}, {
		name: "CRDs and user roles off",
		set:  "crds.enabled=false,rbac.userRoles=false",
		check: func(t *testing.T, objs []*unstructured.Unstructured, _ []string) {
			if n := len(ofKind(objs, "CustomResourceDefinition")); n > 0 {
				t.Errorf("%d CRDs rendered with crds.enabled=false", n)
			}
			for _, r := range ofKind(objs, "ClusterRole") {
				if strings.HasSuffix(r.GetName(), "-admin-role") || strings.HasSuffix(r.GetName(), "-viewer-role") {
					t.Errorf("user role %s rendered with rbac.userRoles=false", r.GetName())
				}
			}
		},
	}, {
		name: "default account in the release namespace",
		set:  accountArgs,
		check: func(t *testing.T, objs []*unstructured.Unstructured, _ []string) {
			assertNested(t, only(t, objs, "ClusterCloudflareAccount"), namespace, "spec", "secretRef", "namespace")
		},
	}, {
		name: "existing service account",
		set:  "serviceAccount.create=false,serviceAccount.name=operator",
		check: func(t *testing.T, objs []*unstructured.Unstructured, _ []string) {
			if len(ofKind(objs, "ServiceAccount")) > 0 {
				t.Errorf("ServiceAccount rendered with serviceAccount.create=false")
			}
			dep := typed[appsv1.Deployment](t, only(t, objs, "Deployment"))
			if dep.Spec.Template.Spec.ServiceAccountName != "operator" {
				t.Errorf("serviceAccountName = %q, want operator", dep.Spec.Template.Spec.ServiceAccountName)
			}
			assertBindings(t, objs, "operator")
		},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			objs := parseObjects(t, helmTemplate(t, "--set", tc.set))
			dep := typed[appsv1.Deployment](t, only(t, objs, "Deployment"))
			tc.check(t, objs, managerContainer(t, dep).Args)
		})
	}
}

// TestRenderRejectsBadValues checks that values which would break the manager fail the render
// with a message that names the value.
func TestRenderRejectsBadValues(t *testing.T) {
	for set, want := range map[string]string{
		"defaultAccount.enabled=true,defaultAccount.secretName=s":                          "defaultAccount.accountID",
		"defaultAccount.enabled=true,defaultAccount.accountID=023e105f4ecef8ad9ca31a8372d": "defaultAccount.secretName",
		"serviceAccount.create=false":                                                      "serviceAccount.name",
		"logging.format=text":                                                              "logging/format",
		"reconcile.resyncInterval=10":                                                      "reconcile/resyncInterval",
		"metrics.port=8081":                                                                "metrics/port",
		"replicsa=2":                                                                       "replicsa",
	} {
		args := []string{"template", releaseName, chartDir, "--namespace", namespace, "--set", set}
		out, err := runErr(helm(t), args...)
		if err == nil {
			t.Errorf("--set %s rendered; want an error naming %s", set, want)
		} else if !strings.Contains(string(out), want) {
			t.Errorf("--set %s failed without naming %s:\n%s", set, want, out)
		}
	}
}

// assertSelects checks that a selector selects the Deployment's pods.
func assertSelects(t *testing.T, selector map[string]string, dep *appsv1.Deployment) {
	t.Helper()
	if len(selector) == 0 {
		t.Errorf("empty selector")
	}
	for k, v := range selector {
		if dep.Spec.Template.Labels[k] != v {
			t.Errorf("selector %s=%s does not match the manager pods %v", k, v, dep.Spec.Template.Labels)
		}
	}
}

// assertTargetPort checks that the Service's first port targets a port of the container.
func assertTargetPort(t *testing.T, svc *corev1.Service, c *corev1.Container) {
	t.Helper()
	target := svc.Spec.Ports[0].TargetPort
	if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool {
		return p.Name == target.StrVal || p.ContainerPort == target.IntVal
	}) {
		t.Errorf("Service %s targets port %s, which the manager container does not expose: %+v",
			svc.Name, target.String(), c.Ports)
	}
}

// assertServiceMonitor checks that the ServiceMonitor scrapes the metrics Service's port with the
// Service's scheme.
func assertServiceMonitor(t *testing.T, sm *unstructured.Unstructured, svc *corev1.Service) {
	t.Helper()
	endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if len(endpoints) != 1 {
		t.Fatalf("ServiceMonitor endpoints = %v, want one", endpoints)
	}
	ep, _ := endpoints[0].(map[string]any)
	port := svc.Spec.Ports[0].Name
	if ep["port"] != port || ep["scheme"] != port || ep["path"] != "/metrics" {
		t.Errorf("ServiceMonitor endpoint %v does not scrape %s://…:%s/metrics", ep, port, port)
	}
	selector, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	for k, v := range selector {
		if svc.Labels[k] != v {
			t.Errorf("ServiceMonitor selector %s=%s does not match the metrics Service %v", k, v, svc.Labels)
		}
	}
}

// assertNetworkPolicy checks that the policy isolates the manager pods and admits only the metrics
// port from namespaces labelled metrics: enabled.
func assertNetworkPolicy(t *testing.T, np *networkingv1.NetworkPolicy, dep *appsv1.Deployment, port int) {
	t.Helper()
	assertSelects(t, np.Spec.PodSelector.MatchLabels, dep)
	if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) {
		t.Errorf("policyTypes = %v, want [Ingress]", np.Spec.PolicyTypes)
	}
	if len(np.Spec.Ingress) != 1 {
		t.Fatalf("ingress rules = %+v, want one", np.Spec.Ingress)
	}
	rule := np.Spec.Ingress[0]
	if len(rule.Ports) != 1 || rule.Ports[0].Port.IntValue() != port {
		t.Errorf("ingress ports = %+v, want only %d", rule.Ports, port)
	}
	if len(rule.From) != 1 || rule.From[0].NamespaceSelector == nil ||
		rule.From[0].NamespaceSelector.MatchLabels["metrics"] != "enabled" || rule.From[0].PodSelector != nil {
		t.Errorf("ingress from = %+v, want namespaces labelled metrics: enabled", rule.From)
	}
}

// assertNested checks one field of an object.
func assertNested(t *testing.T, obj *unstructured.Unstructured, want any, fields ...string) {
	t.Helper()
	got, found, err := unstructured.NestedFieldNoCopy(obj.Object, fields...)
	if v, ok := got.(float64); ok {
		got = int64(v)
	}
	if err != nil || !found || got != want {
		t.Errorf("%s %s: %s = %v, want %v", obj.GetKind(), obj.GetName(), strings.Join(fields, "."), got, want)
	}
}

package chart

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	testenv "github.com/workersvpc/connectivity-operator/internal/testutil/envtest"
)

// podSecurityWarning is how the API server warns about a pod template that breaks the namespace's
// Pod Security Standard.
const podSecurityWarning = "would violate PodSecurity"

// serviceMonitorCRD is prometheus-operator's CRD, so the chart's ServiceMonitor is validated too.
const serviceMonitorCRD = "testdata/crds/monitoring.coreos.com_servicemonitors.yaml"

// prometheusRuleCRD is prometheus-operator's CRD, so the chart's PrometheusRule is validated too.
const prometheusRuleCRD = "testdata/crds/monitoring.coreos.com_prometheusrules.yaml"

// dryRunLine is kubectl's line for one object accepted in a server-side dry run.
var dryRunLine = regexp.MustCompile(`(?m)^\S+ (created|configured|unchanged) \(server dry run\)$`)

// cluster is a real API server (envtest) and a kubectl for it.
type cluster struct {
	kubectl, kubeconfig string
}

// startCluster starts kube-apiserver and etcd from KUBEBUILDER_ASSETS, without CRDs (the test
// applies the chart's), and writes a kubeconfig of a cluster admin.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	env, err := testenv.Start(testenv.Options{NoProjectCRDs: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop the envtest control plane: %v", err)
		}
	})
	_, kubeconfig, err := env.AddAdmin("admin")
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{kubectl: env.Kubectl(), kubeconfig: filepath.Join(t.TempDir(), "kubeconfig")}
	if err := os.WriteFile(c.kubeconfig, kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	return c
}

// run runs kubectl and returns its standard output, failing the test when kubectl fails.
func (c *cluster) run(t *testing.T, args ...string) string {
	t.Helper()
	return string(run(t, c.kubectl, append([]string{"--kubeconfig", c.kubeconfig}, args...)...))
}

// absent checks that kubectl get finds no such object.
func (c *cluster) absent(t *testing.T, args ...string) {
	t.Helper()
	out, err := runErr(c.kubectl, append([]string{"--kubeconfig", c.kubeconfig, "get"}, args...)...)
	if err == nil || !strings.Contains(string(out), "NotFound") {
		t.Errorf("kubectl get %s: want NotFound, got %v\n%s", strings.Join(args, " "), err, out)
	}
}

// apply applies objects for real.
func (c *cluster) apply(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	c.run(t, "apply", "-f", writeObjects(t, objs))
}

// dryRun applies manifests with a server-side dry run: the API server validates and admits every
// object (schemas, CEL rules, RBAC escalation checks, Pod Security) without storing it. It returns
// kubectl's output, warnings included.
func (c *cluster) dryRun(t *testing.T, objs []*unstructured.Unstructured) string {
	t.Helper()
	// Combined output: kubectl prints the API server's warnings on stderr.
	out, err := exec.Command(c.kubectl, "--kubeconfig", c.kubeconfig, "apply", "--dry-run=server",
		"-f", writeObjects(t, objs)).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl apply --dry-run=server: %v\n%s", err, out)
	}
	if n := len(dryRunLine.FindAll(out, -1)); n != len(objs) {
		t.Errorf("the API server accepted %d of %d objects:\n%s", n, len(objs), out)
	}
	return string(out)
}

// writeObjects writes objects into a multi-document YAML file and returns its path.
func writeObjects(t *testing.T, objs []*unstructured.Unstructured) string {
	t.Helper()
	var b strings.Builder
	for _, obj := range objs {
		data, err := yaml.Marshal(obj.Object)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("---\n")
		b.Write(data)
	}
	f, err := os.CreateTemp(t.TempDir(), "manifests-*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	if _, err := f.WriteString(b.String()); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

// TestServerSideDryRun applies the chart (defaults and all options) and config/default (with and
// without its optional parts) to a real API server in a server-side dry run. The CRDs are applied
// for real first, from the chart, so the custom resources can be validated, and the namespace warns
// about any breach of the restricted Pod Security Standard, which fails the test.
func TestServerSideDryRun(t *testing.T) {
	c := startCluster(t)
	chartAll := parseObjects(t, helmTemplate(t, allOptions()...))
	crds := append(ofKind(chartAll, "CustomResourceDefinition"), parseFile(t, "test/chart/"+serviceMonitorCRD)...)
	crds = append(crds, parseFile(t, "test/chart/"+prometheusRuleCRD)...)
	c.apply(t, crds)
	c.run(t, "wait", "--for=condition=Established", "--timeout=60s", "customresourcedefinitions", "--all")
	ns := &unstructured.Unstructured{}
	ns.SetAPIVersion("v1")
	ns.SetKind("Namespace")
	ns.SetName(namespace)
	ns.SetLabels(map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted",
		"pod-security.kubernetes.io/warn":    "restricted",
	})
	c.apply(t, []*unstructured.Unstructured{ns})

	cases := map[string][]*unstructured.Unstructured{
		"chart defaults":               parseObjects(t, helmTemplate(t)),
		"chart all options":            chartAll,
		"config/default":               parseObjects(t, kustomizeBuild(t, filepath.Join(repoRoot, "config", "default"))),
		"config/default with optional": parseObjects(t, kustomizeBuild(t, optionalConfig(t))),
	}
	for name, objs := range cases {
		t.Run(name, func(t *testing.T) {
			if out := c.dryRun(t, objs); strings.Contains(out, podSecurityWarning) {
				t.Errorf("the manager breaks the restricted Pod Security Standard:\n%s", out)
			}
		})
	}

	// The check above can fail: a privileged manager draws the warning.
	t.Run("pod security is enforced", func(t *testing.T) {
		objs := parseObjects(t, helmTemplate(t, "--set", "securityContext.allowPrivilegeEscalation=true"))
		if out := c.dryRun(t, objs); !strings.Contains(out, podSecurityWarning) {
			t.Errorf("no Pod Security warning for allowPrivilegeEscalation=true; the check cannot fail:\n%s", out)
		}
	})
}

package chart

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// sampleService is a ConnectivityService that stands for a user's object.
const sampleService = "config/samples/connectivity_v1alpha1_connectivityservice_ipv4_http.yaml"

// helm runs helm against the cluster, with Helm's cache, config and data directories in a
// temporary directory so the test leaves the user's home alone. It fails the test when helm fails.
func (c *cluster) helm(t *testing.T, args ...string) {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(helm(t), append([]string{"--kubeconfig", c.kubeconfig, "--namespace", namespace}, args...)...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// upgradedChart returns a copy of the chart whose ConnectivityService CRD carries one more
// annotation, standing for a new version of the CRD.
func upgradedChart(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "chart")
	if err := os.CopyFS(dir, os.DirFS(chartDir)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "templates", "crds", "connectivity.workersvpc.dev_connectivityservices.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const keep = "    helm.sh/resource-policy: keep\n"
	if !strings.Contains(string(data), keep) {
		t.Fatalf("%s has no %q", path, keep)
	}
	data = []byte(strings.Replace(string(data), keep, keep+"    test.workersvpc.dev/upgraded: \"true\"\n", 1))
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestHelmInstallUpgradeUninstall installs the chart with every option into a real API server,
// upgrades it, and uninstalls it. The install creates the CRDs and then the default account (a
// post-install hook: Helm cannot map the kind before its CRD exists); an upgrade updates the CRDs
// and the manager; an uninstall removes the manager but keeps the CRDs, the users' objects and the
// default account.
func TestHelmInstallUpgradeUninstall(t *testing.T) {
	c := startCluster(t)
	c.apply(t, append(parseFile(t, "test/chart/"+serviceMonitorCRD), parseFile(t, "test/chart/"+prometheusRuleCRD)...))
	c.run(t, "wait", "--for=condition=Established", "--timeout=60s", "customresourcedefinitions", "--all")

	deployment := []string{"-n", namespace, "deployment", releaseName + "-controller-manager"}
	crd := []string{"crd", "connectivityservices.connectivity.workersvpc.dev"}
	account := []string{"clustercloudflareaccount", "default"}

	c.helm(t, append([]string{"install", releaseName, chartDir, "--create-namespace"}, allOptions()...)...)
	const secretRef = `{"name":"cloudflare-credentials","namespace":"cloudflare-secrets"}`
	if got := c.get(t, "{.spec.secretRef}", account...); got != secretRef {
		t.Errorf("default account secretRef = %s, want %s", got, secretRef)
	}
	c.get(t, "{.metadata.name}", deployment...)
	c.run(t, "apply", "-n", "default", "-f", filepath.Join(repoRoot, sampleService))

	c.helm(t, append([]string{"upgrade", releaseName, upgradedChart(t), "--set", "replicas=3"}, allOptions()...)...)
	if got := c.get(t, "{.metadata.annotations}", crd...); !strings.Contains(got, "test.workersvpc.dev/upgraded") {
		t.Errorf("helm upgrade did not update the CRD: annotations %s", got)
	}
	if got := c.get(t, "{.spec.replicas}", deployment...); got != "3" {
		t.Errorf("helm upgrade did not update the Deployment: replicas %s", got)
	}
	c.get(t, "{.metadata.name}", account...)

	c.helm(t, "uninstall", releaseName)
	c.absent(t, deployment...)
	c.absent(t, "clusterrole", releaseName+"-manager-role")
	c.get(t, "{.metadata.name}", crd...)
	c.get(t, "{.metadata.name}", "-n", "default", "connectivityservice", "billing-api")
	c.get(t, "{.metadata.name}", account...)
}

// get returns a JSONPath of an object, failing the test when the object does not exist.
func (c *cluster) get(t *testing.T, jsonPath string, args ...string) string {
	t.Helper()
	return c.run(t, append(append([]string{"get"}, args...), "-o", "jsonpath="+jsonPath)...)
}

// Package release tests the release path end to end on this machine, with nothing but local
// processes: it serves an OCI registry on 127.0.0.1 (go-containerregistry's in-process registry,
// with the OCI 1.1 referrers API), runs the real `make release` recipe against it (hack/imagepush
// pushes the image index and its SBOM referrers from the OCI layout of `make image`; helm packages
// and pushes the chart), checks what the registry then holds, and installs the chart from the
// registry with the real helm CLI into an envtest control plane, pinning the image by the pushed
// digest, and checks the Deployment in the cluster runs repository@digest.
//
// Run it with `make release-dry-run`, which builds the image and installs helm and the envtest
// control plane, and passes HELM, KUBEBUILDER_ASSETS, IMAGE_LAYOUT and VERSION.
package release

import (
	"os"
	"testing"

	testenv "github.com/workersvpc/connectivity-operator/internal/testutil/envtest"
)

// chartName is the chart's name in dist/chart/Chart.yaml, and so its repository under charts/.
const chartName = "connectivity-operator"

// repoRoot is the module root.
var repoRoot = testenv.MustModuleRoot()

// config is what `make release-dry-run` passes in the environment.
type config struct {
	helm, assets, layout, version string
}

// loadConfig reads the environment; a missing value fails the test (skipping would let CI pass
// without testing anything).
func loadConfig(t *testing.T) config {
	t.Helper()
	get := func(name string) string {
		v := os.Getenv(name)
		if v == "" {
			t.Fatalf("%s is not set: run `make release-dry-run`, which sets it", name)
		}
		return v
	}
	return config{
		helm: get("HELM"), assets: get("KUBEBUILDER_ASSETS"), layout: get("IMAGE_LAYOUT"), version: get("VERSION"),
	}
}

// TestReleaseDryRun releases to a local registry and installs the release from it.
func TestReleaseDryRun(t *testing.T) {
	cfg := loadConfig(t)
	want := layoutIndex(t, cfg.layout)
	registryHost := startRegistry(t)
	imageRepo := registryHost + "/connectivity-operator"

	makeRelease(t, cfg, registryHost)
	checkPushedImage(t, imageRepo+":"+cfg.version, want)

	c := startCluster(t, cfg.assets)
	pinned := imageRepo + "@" + want.String()
	c.helm(t, cfg.helm, "install", chartName, "oci://"+registryHost+"/charts/"+chartName,
		"--version", cfg.version, "--plain-http", "--create-namespace",
		"--set", "image.repository="+imageRepo, "--set", "image.digest="+want.String())
	c.checkDeployment(t, pinned, chartName+"-"+cfg.version)
}

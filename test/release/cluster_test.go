package release

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// namespace is the release namespace.
const namespace = "connectivity-operator-system"

// cluster is an envtest control plane, a kubeconfig of a cluster admin for helm, and a direct
// client for the checks.
type cluster struct {
	kubeconfig string
	client     client.Client
}

// startCluster starts kube-apiserver and etcd from the envtest assets (as test/chart does) and
// writes a kubeconfig for helm.
func startCluster(t *testing.T, assets string) *cluster {
	t.Helper()
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if info, err := os.Stat(filepath.Join(assets, bin)); err != nil || info.Mode()&0o111 == 0 {
			t.Fatalf("KUBEBUILDER_ASSETS=%s has no executable %s: run `make envtest`", assets, bin)
		}
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start the envtest control plane: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop the envtest control plane: %v", err)
		}
	})
	admin, err := env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatalf("add the admin user: %v", err)
	}
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		t.Fatalf("kubeconfig: %v", err)
	}
	c := &cluster{kubeconfig: filepath.Join(t.TempDir(), "kubeconfig")}
	if err := os.WriteFile(c.kubeconfig, kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	if c.client, err = client.New(cfg, client.Options{Scheme: scheme.Scheme}); err != nil {
		t.Fatal(err)
	}
	return c
}

// helm runs the helm CLI against the cluster in the release namespace, failing the test when it
// fails.
func (c *cluster) helm(t *testing.T, helm string, args ...string) {
	t.Helper()
	cmd := exec.Command(helm, append([]string{"--kubeconfig", c.kubeconfig, "--namespace", namespace}, args...)...)
	cmd.Dir = repoRoot
	cmd.Env = helmEnv(t)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("helm %s:\n%s", args[0], out)
}

// checkDeployment checks that the manager Deployment the install made runs the pinned image and
// comes from the released chart version.
func (c *cluster) checkDeployment(t *testing.T, image, chartLabel string) {
	t.Helper()
	var deploy appsv1.Deployment
	key := client.ObjectKey{Namespace: namespace, Name: chartName + "-controller-manager"}
	if err := c.client.Get(context.Background(), key, &deploy); err != nil {
		t.Fatalf("get the Deployment %s: %v", key, err)
	}
	if got := deploy.Labels["helm.sh/chart"]; got != chartLabel {
		t.Errorf("Deployment label helm.sh/chart = %q, want %q (the released chart)", got, chartLabel)
	}
	images := make([]string, 0, len(deploy.Spec.Template.Spec.Containers))
	for _, c := range deploy.Spec.Template.Spec.Containers {
		images = append(images, c.Image)
	}
	if len(images) != 1 || images[0] != image {
		t.Errorf("Deployment container images %q, want one running %s", images, image)
	}
}

package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
)

func TestModuleRootIsFoundFromASubdirectory(t *testing.T) {
	root, err := ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(filepath.Join(root, "config", "crd"))
	got, err := ModuleRoot()
	if err != nil || got != root {
		t.Fatalf("ModuleRoot() from config/crd = %q, %v; want %q", got, err, root)
	}
	crds, err := CRDDir()
	if err != nil {
		t.Fatal(err)
	}
	if files, _ := filepath.Glob(filepath.Join(crds, "*.yaml")); len(files) == 0 {
		t.Fatalf("CRDDir() = %s holds no CRDs", crds)
	}
}

func TestModuleRootIgnoresOtherModules(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/other\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	if root, err := ModuleRoot(); err == nil {
		t.Fatalf("ModuleRoot() in another module = %q, want an error", root)
	}
}

func TestStartWithoutAssetsSaysToRunMakeEnvtest(t *testing.T) {
	t.Setenv(assetsEnv, "")
	_, err := Start(Options{})
	if err == nil || !strings.Contains(err.Error(), "`make envtest`") {
		t.Fatalf("Start() without %s: %v; want an error that says to run `make envtest`", assetsEnv, err)
	}
}

func TestStartWithIncompleteAssetsNamesTheMissingBinary(t *testing.T) {
	t.Setenv(assetsEnv, t.TempDir())
	_, err := Start(Options{})
	if err == nil || !strings.Contains(err.Error(), "no executable kube-apiserver") {
		t.Fatalf("Start() with an empty %s: %v; want an error about kube-apiserver", assetsEnv, err)
	}
}

// TestStartInstallsCRDsAndFlags starts a real control plane: the project's CRDs are served, the
// API server flags are applied (a dual-stack Service needs the dual-stack range), and an added
// admin can read.
func TestStartInstallsCRDsAndFlags(t *testing.T) {
	env, err := Start(Options{APIServerFlags: map[string]string{
		"service-cluster-ip-range": "10.0.0.0/24,fd00:10:96::/112",
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Error(err)
		}
	})
	ctx := t.Context()
	if err := env.Client.List(ctx, &v1alpha1.ConnectivityServiceList{}); err != nil {
		t.Fatalf("list ConnectivityServices: %v", err)
	}
	policy := corev1.IPFamilyPolicyRequireDualStack
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "dual", Namespace: "default"},
		Spec: corev1.ServiceSpec{
			IPFamilyPolicy: &policy,
			Ports:          []corev1.ServicePort{{Port: 80}},
		},
	}
	if err := env.Client.Create(ctx, svc); err != nil {
		t.Fatalf("create a dual-stack Service: %v", err)
	}
	cfg, kubeconfig, err := env.AddAdmin("admin")
	if err != nil || len(kubeconfig) == 0 {
		t.Fatalf("AddAdmin: %v (kubeconfig of %d bytes)", err, len(kubeconfig))
	}
	admin, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.List(ctx, &corev1.NamespaceList{}); err != nil {
		t.Fatalf("the admin lists namespaces: %v", err)
	}
	if _, err := os.Stat(env.Kubectl()); err != nil {
		t.Fatalf("Kubectl(): %v", err)
	}
}

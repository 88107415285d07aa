// Package chart tests the Helm chart in dist/chart and the kustomize manifests in config/default:
// both lint and render, the manager Deployment they produce meets the restricted Pod Security
// Standard and passes the chart's values as real manager flags, their RBAC and CRDs equal what
// controller-gen generates, a real API server (envtest) accepts them in a server-side dry run, and
// the chart installs, upgrades and uninstalls there without deleting the CRDs.
//
// Run it with `make test-chart`, which installs helm, kustomize and the envtest control plane and
// passes their paths in HELM, KUSTOMIZE and KUBEBUILDER_ASSETS.
package chart

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/yaml"

	testenv "github.com/workersvpc/connectivity-operator/internal/testutil/envtest"
)

const (
	// releaseName is the Helm release the chart is rendered as; with it the chart's resource names
	// equal the kustomize ones (namePrefix connectivity-operator-).
	releaseName = "connectivity-operator"
	// namespace is the release namespace and the namespace of config/default.
	namespace = "connectivity-operator-system"
	// allOptionsValues switches every option of the chart on.
	allOptionsValues = "testdata/all-options.yaml"
)

// repoRoot is the module root.
var repoRoot = testenv.MustModuleRoot()

// chartDir is the Helm chart under test.
var chartDir = filepath.Join(repoRoot, "dist", "chart")

// tool returns the executable named by the environment variable env (a relative path is relative
// to the repository root), or fallback when env is unset. A missing tool fails the test: skipping
// would let CI pass without testing anything.
func tool(t *testing.T, env, fallback, makeTarget string) string {
	t.Helper()
	path := os.Getenv(env)
	if path == "" {
		path = fallback
	}
	if path == "" {
		t.Fatalf("%s is not set: run `make test-chart`, which builds the tools and sets it", env)
	}
	if !filepath.IsAbs(path) {
		path = filepath.Join(repoRoot, path)
	}
	info, err := os.Stat(path)
	if err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
		t.Fatalf("%s: %s is not an executable file (%v): run `make test-chart`, or `make %s` and set %s",
			env, path, err, makeTarget, env)
	}
	return path
}

// helm is the helm binary: $HELM, else bin/helm.
func helm(t *testing.T) string {
	return tool(t, "HELM", filepath.Join(repoRoot, "bin", "helm"), "helm")
}

// kustomize is the kustomize binary: $KUSTOMIZE, else bin/kustomize.
func kustomize(t *testing.T) string {
	return tool(t, "KUSTOMIZE", filepath.Join(repoRoot, "bin", "kustomize"), "kustomize")
}

// run runs a command and returns its standard output; it fails the test with the command's
// output when the command fails.
func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	out, err := runErr(name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return out
}

// runErr runs a command and returns its standard output, or its combined output and the error.
func runErr(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = repoRoot
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return append(stdout.Bytes(), stderr.Bytes()...), err
	}
	return stdout.Bytes(), nil
}

// helmTemplate renders the chart as release releaseName in namespace with extra helm arguments
// (--values, --set).
func helmTemplate(t *testing.T, args ...string) []byte {
	t.Helper()
	return run(t, helm(t), append([]string{"template", releaseName, chartDir, "--namespace", namespace}, args...)...)
}

// allOptions is the --values argument of the all-options values file.
func allOptions() []string {
	return []string{"--values", filepath.Join(repoRoot, "test", "chart", allOptionsValues)}
}

// parseObjects splits a multi-document YAML stream into objects, dropping empty documents.
func parseObjects(t *testing.T, data []byte) []*unstructured.Unstructured {
	t.Helper()
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		var obj map[string]any
		err := dec.Decode(&obj)
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatalf("parse manifests: %v", err)
		}
		if len(obj) > 0 {
			objs = append(objs, &unstructured.Unstructured{Object: obj})
		}
	}
}

// parseFile parses the objects of a YAML file, relative to the repository root.
func parseFile(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, path))
	if err != nil {
		t.Fatal(err)
	}
	return parseObjects(t, data)
}

// ofKind returns the objects of a kind.
func ofKind(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var found []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			found = append(found, o)
		}
	}
	return found
}

// find returns the object of a kind and name, or nil.
func find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range ofKind(objs, kind) {
		if o.GetName() == name {
			return o
		}
	}
	return nil
}

// only returns the one object of a kind, failing the test when there is not exactly one.
func only(t *testing.T, objs []*unstructured.Unstructured, kind string) *unstructured.Unstructured {
	t.Helper()
	found := ofKind(objs, kind)
	if len(found) != 1 {
		t.Fatalf("want exactly one %s, got %d", kind, len(found))
	}
	return found[0]
}

// typed converts an object to its API type.
func typed[T any](t *testing.T, obj *unstructured.Unstructured) *T {
	t.Helper()
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, out); err != nil {
		t.Fatalf("convert %s %s: %v", obj.GetKind(), obj.GetName(), err)
	}
	return out
}

// managerFlagPattern matches a flag in the usage text of Go's flag package.
var managerFlagPattern = regexp.MustCompile(`(?m)^  -([a-zA-Z0-9][a-zA-Z0-9-]*)`)

var managerFlagsOnce struct {
	sync.Once
	flags []string
	err   error
	out   []byte
}

// managerFlags builds the manager (./cmd) and returns the names of its flags, so a test can check
// that every flag the manifests pass exists: an unknown flag makes the manager exit at start.
func managerFlags(t *testing.T) []string {
	t.Helper()
	f := &managerFlagsOnce
	f.Do(func() {
		dir, err := os.MkdirTemp("", "manager-flags")
		if err != nil {
			f.err = err
			return
		}
		defer func() { _ = os.RemoveAll(dir) }()
		bin := filepath.Join(dir, "manager")
		if f.out, f.err = runErr("go", "build", "-o", bin, "./cmd"); f.err != nil {
			return
		}
		// Go's flag package prints the usage on stderr and exits 0 for --help.
		out, _ := exec.Command(bin, "--help").CombinedOutput()
		for _, m := range managerFlagPattern.FindAllSubmatch(out, -1) {
			f.flags = append(f.flags, string(m[1]))
		}
		if len(f.flags) == 0 {
			f.err, f.out = errors.New("no flags in the manager's --help output"), out
		}
	})
	if f.err != nil {
		t.Fatalf("list the manager's flags: %v\n%s", f.err, f.out)
	}
	return f.flags
}

// assertKnownFlags checks that every argument is a flag the manager defines.
func assertKnownFlags(t *testing.T, args []string) {
	t.Helper()
	known := managerFlags(t)
	for _, arg := range args {
		name := strings.TrimLeft(strings.SplitN(arg, "=", 2)[0], "-")
		if !slices.Contains(known, name) {
			t.Errorf("argument %q: the manager has no flag %q (it would exit at start)", arg, name)
		}
	}
}

package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// modulePath is the module whose root holds config/crd/bases.
const modulePath = "github.com/workersvpc/connectivity-operator"

// assetsEnv names the directory of kube-apiserver, etcd and kubectl that `make envtest` builds.
const assetsEnv = "KUBEBUILDER_ASSETS"

// ModuleRoot returns the repository root: the nearest directory at or above the working
// directory whose go.mod declares this module. A test runs in its package's directory and a
// program (test/bench) from the root, so neither has to count "../.." to find the CRDs.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if declaresModule(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod of module %s in the working directory or above it", modulePath)
		}
		dir = parent
	}
}

// MustModuleRoot is ModuleRoot for the package variables of suites, which cannot run outside the
// repository anyway: it panics instead of returning an error.
func MustModuleRoot() string {
	root, err := ModuleRoot()
	if err != nil {
		panic(err)
	}
	return root
}

// CRDDir returns config/crd/bases, where controller-gen writes the project's CRDs: the suites
// install exactly these files, so a marker change is only tested after `make manifests`.
func CRDDir() (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "config", "crd", "bases"), nil
}

// declaresModule reports whether the go.mod at path is this module's (not a nested tool module's).
func declaresModule(path string) bool {
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	for line := range strings.Lines(string(data)) {
		if fields := strings.Fields(line); len(fields) == 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`) == modulePath
		}
	}
	return false
}

// assetsDir returns $KUBEBUILDER_ASSETS once it holds the three binaries, or an error that says
// how to get them, instead of envtest's search of default paths that ends in a vaguer error.
func assetsDir() (string, error) {
	dir := os.Getenv(assetsEnv)
	if dir == "" {
		return "", errors.New(assetsEnv + " is not set: run `make envtest` and set " + assetsEnv +
			" to the directory it builds (the make test targets do both)")
	}
	for _, bin := range []string{"kube-apiserver", "etcd", "kubectl"} {
		info, err := os.Stat(filepath.Join(dir, bin))
		if err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
			return "", fmt.Errorf("%s=%s has no executable %s: run `make envtest`", assetsEnv, dir, bin)
		}
	}
	return dir, nil
}

// Package testenv is the one envtest bootstrap of the test suites (after Cluster API's
// internal/test/envtest): it finds the project's CRDs from the module root, builds the scheme,
// checks KUBEBUILDER_ASSETS, starts kube-apiserver and etcd, and hands back a config, a direct
// client and Stop. Suites say only how they differ, through Options.
package testenv

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crenvtest "sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
)

// Options are what the suites differ in; the zero value installs the project's CRDs and
// nothing else.
type Options struct {
	// NoProjectCRDs skips config/crd/bases: for suites that need no CRDs, or that install them
	// themselves as a user would (kubectl apply of the chart or of config/default).
	NoProjectCRDs bool
	// CRDDirs are more directories of CRDs to install at start, besides the project's.
	CRDDirs []string
	// APIServerFlags are set on kube-apiserver's command line, replacing envtest's value of the
	// same flag (e.g. service-cluster-ip-range for dual-stack Services).
	APIServerFlags map[string]string
	// APIServerLog receives kube-apiserver's output; nil discards it, as envtest does.
	APIServerLog io.Writer
}

// Environment is a running control plane and the suite's way into it.
type Environment struct {
	// Config is the REST config of envtest's own admin user.
	Config *rest.Config
	// Scheme holds client-go's types and the project's API types.
	Scheme *runtime.Scheme
	// Client is a direct client without a cache, so every read is what the API server serves.
	Client client.Client
	env    *crenvtest.Environment
	assets string
}

// NewScheme returns a scheme with client-go's types and the project's API types, the set every
// suite and the manager use.
func NewScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(v1alpha1.AddToScheme(s))
	return s
}

// Start checks KUBEBUILDER_ASSETS, starts kube-apiserver and etcd with the CRDs and flags of
// opts, and connects a client. On error nothing is left running.
func Start(opts Options) (*Environment, error) {
	assets, err := assetsDir()
	if err != nil {
		return nil, err
	}
	crdDirs, err := crdDirs(opts)
	if err != nil {
		return nil, err
	}
	env := &crenvtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     crdDirs,
		ErrorIfCRDPathMissing: len(crdDirs) > 0,
	}
	apiServer := env.ControlPlane.GetAPIServer()
	for flag, value := range opts.APIServerFlags {
		apiServer.Configure().Set(flag, value)
	}
	if opts.APIServerLog != nil {
		apiServer.Out, apiServer.Err = opts.APIServerLog, opts.APIServerLog
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, errors.Join(fmt.Errorf("start the envtest control plane from %s: %w", assets, err), env.Stop())
	}
	e := &Environment{Config: cfg, Scheme: NewScheme(), env: env, assets: assets}
	if e.Client, err = client.New(cfg, client.Options{Scheme: e.Scheme}); err != nil {
		return nil, errors.Join(fmt.Errorf("client of the envtest control plane: %w", err), env.Stop())
	}
	return e, nil
}

// crdDirs is the project's CRD directory unless opted out, then the extra ones.
func crdDirs(opts Options) ([]string, error) {
	var dirs []string
	if !opts.NoProjectCRDs {
		dir, err := CRDDir()
		if err != nil {
			return nil, err
		}
		dirs = append(dirs, dir)
	}
	return append(dirs, opts.CRDDirs...), nil
}

// Stop stops kube-apiserver and etcd and removes their temporary state.
func (e *Environment) Stop() error {
	return e.env.Stop()
}

// AddUser adds a user with its own client certificate, for tests of what a non-admin identity
// may do; baseConfig may be nil.
func (e *Environment) AddUser(user crenvtest.User, baseConfig *rest.Config) (*crenvtest.AuthenticatedUser, error) {
	return e.env.AddUser(user, baseConfig)
}

// AddAdmin adds a user named name in group system:masters and returns its REST config and a
// kubeconfig with its credentials, for kubectl and for processes run by the test.
func (e *Environment) AddAdmin(name string) (*rest.Config, []byte, error) {
	user, err := e.env.AddUser(crenvtest.User{Name: name, Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("add admin user %s: %w", name, err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return nil, nil, fmt.Errorf("kubeconfig of %s: %w", name, err)
	}
	return user.Config(), kubeconfig, nil
}

// Kubectl is the kubectl built by `make envtest` next to kube-apiserver, the same version.
func (e *Environment) Kubectl() string {
	return filepath.Join(e.assets, "kubectl")
}

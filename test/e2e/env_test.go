package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"

	"github.com/workersvpc/connectivity-operator/internal/testutil"

	testenv "github.com/workersvpc/connectivity-operator/internal/testutil/envtest"
)

// toolPaths are the binaries and directories the suite uses.
type toolPaths struct {
	root      string // the repository
	assets    string // KUBEBUILDER_ASSETS: kube-apiserver, etcd, kubectl
	kubectl   string
	kustomize string
	// manifests is the kustomization the suite installs: config/default, or $E2E_KUSTOMIZE_DIR;
	// manifestFile, $E2E_MANIFESTS, is rendered manifests to install instead (the Helm chart's).
	manifests    string
	manifestFile string
	manager      string
	fakeAPI      string
	artifacts    string // logs and kubeconfigs of this run
}

// findTools reads the paths from the environment `make test-e2e` sets, with defaults relative to
// the repository, and checks that every binary exists.
func findTools() (toolPaths, error) {
	root, err := testenv.ModuleRoot()
	if err != nil {
		return toolPaths{}, err
	}
	p := toolPaths{
		root:         root,
		assets:       os.Getenv("KUBEBUILDER_ASSETS"),
		kubectl:      os.Getenv("KUBECTL"),
		kustomize:    testutil.EnvOr("KUSTOMIZE", filepath.Join(root, "bin", "kustomize")),
		manifests:    testutil.EnvOr("E2E_KUSTOMIZE_DIR", filepath.Join(root, "config", "default")),
		manifestFile: os.Getenv("E2E_MANIFESTS"),
		manager:      testutil.EnvOr("MANAGER_BIN", filepath.Join(root, "bin", "manager")),
		fakeAPI:      testutil.EnvOr("FAKE_API_BIN", filepath.Join(root, "bin", "fake-cloudflare-api")),
		artifacts:    testutil.EnvOr("E2E_ARTIFACTS", filepath.Join(root, "bin", "e2e")),
	}
	if p.assets == "" {
		return p, errors.New("KUBEBUILDER_ASSETS is not set; run the suite with `make test-e2e`")
	}
	if p.kubectl == "" {
		p.kubectl = filepath.Join(p.assets, "kubectl")
	}
	for _, bin := range []string{p.kubectl, p.kustomize, p.manager, p.fakeAPI} {
		if _, err := os.Stat(bin); err != nil {
			return p, fmt.Errorf("%s is missing (run the suite with `make test-e2e`, which builds it): %w", bin, err)
		}
	}
	if err := os.RemoveAll(p.artifacts); err != nil {
		return p, err
	}
	return p, os.MkdirAll(p.artifacts, 0o755)
}

// process is a child process whose output goes to a log file.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
	waitErr error
}

// startProcess starts bin with args, extra environment variables and its output in logPath.
func startProcess(name, logPath string, env []string, bin string, args ...string) (*process, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		_ = logFile.Close()
		close(p.exited)
	}()
	_, _ = fmt.Fprintf(GinkgoWriter, "%s: pid %d, log %s\n", name, cmd.Process.Pid, logPath)
	return p, nil
}

func (p *process) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// errExited describes a process that exited when it should not have.
func (p *process) errExited() error {
	return fmt.Errorf("%s exited (%v); see its log %s", p.name, p.waitErr, p.logPath)
}

// kill sends SIGKILL and waits for the process to go.
func (p *process) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// stop sends SIGTERM and waits up to timeout, then kills. It is an error if the process had
// exited before, or did not stop in time.
func (p *process) stop(timeout time.Duration) error {
	if !p.running() {
		return p.errExited()
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-time.After(timeout):
		p.kill()
		return fmt.Errorf("%s did not stop within %s of SIGTERM; killed it", p.name, timeout)
	}
}

// kubectl runs kubectl as the admin and returns its standard output. Errors carry stderr.
func kubectl(ctx context.Context, args ...string) (string, error) {
	return kubectlWithInput(ctx, "", args...)
}

// kubectlWithInput runs kubectl with stdin; the input is never logged (it may hold a token).
func kubectlWithInput(ctx context.Context, stdin string, args ...string) (string, error) {
	return runKubectl(ctx, admin, stdin, args...)
}

func runKubectl(ctx context.Context, kubeconfig, stdin string, args ...string) (string, error) {
	_, _ = fmt.Fprintf(GinkgoWriter, "$ kubectl %s\n", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, paths.kubectl, append([]string{"--kubeconfig", kubeconfig}, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// installation is what config/default installs that the manager needs to know.
type installation struct {
	namespace      string   // the Deployment's namespace
	serviceAccount string   // the Deployment's serviceAccountName
	args           []string // the manager container's args
	metricsReader  string   // the ClusterRole that allows GET /metrics
}

// install renders the operator's manifests (kustomize build config/default, or the file in
// $E2E_MANIFESTS, e.g. `helm template` of the chart), applies them with kubectl, waits for the
// CRDs, and reads the Deployment and the metrics reader role out of what it applied.
func install(ctx context.Context) (installation, error) {
	manifests, err := renderManifests(ctx)
	if err != nil {
		return installation{}, err
	}
	if err := os.WriteFile(filepath.Join(paths.artifacts, "operator-manifests.yaml"), manifests, 0o644); err != nil {
		return installation{}, err
	}
	inst, err := parseInstallation(manifests)
	if err != nil {
		return inst, err
	}
	// A Helm rendering has no Namespace object (helm install --create-namespace makes it).
	if _, err := kubectl(ctx, "get", "namespace", inst.namespace); err != nil {
		if err := createNamespace(ctx, inst.namespace); err != nil {
			return inst, err
		}
	}
	out, err := kubectlWithInput(ctx, string(manifests), "apply", "-f", "-")
	if err != nil {
		return inst, err
	}
	_, _ = fmt.Fprint(GinkgoWriter, out)
	_, err = kubectl(ctx, "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
	return inst, err
}

func renderManifests(ctx context.Context) ([]byte, error) {
	if paths.manifestFile != "" {
		return os.ReadFile(paths.manifestFile)
	}
	build := exec.CommandContext(ctx, paths.kustomize, "build", paths.manifests)
	var stderr bytes.Buffer
	build.Stderr = &stderr
	manifests, err := build.Output()
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w: %s", paths.manifests, err, stderr.String())
	}
	return manifests, nil
}

func parseInstallation(manifests []byte) (installation, error) {
	var inst installation
	var deployments int
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(manifests)))
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return inst, err
		}
		var obj unstructured.Unstructured
		if err := yaml.Unmarshal(doc, &obj.Object); err != nil || obj.Object == nil {
			continue
		}
		switch obj.GetKind() {
		case "Deployment":
			deployments++
			var d appsv1.Deployment
			if err := k8sruntime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &d); err != nil {
				return inst, err
			}
			inst.namespace = d.Namespace
			inst.serviceAccount = d.Spec.Template.Spec.ServiceAccountName
			if len(d.Spec.Template.Spec.Containers) > 0 {
				inst.args = d.Spec.Template.Spec.Containers[0].Args
			}
		case "ClusterRole":
			var role rbacv1.ClusterRole
			if err := k8sruntime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &role); err != nil {
				return inst, err
			}
			for _, rule := range role.Rules {
				for _, u := range rule.NonResourceURLs {
					if u == "/metrics" {
						inst.metricsReader = role.Name
					}
				}
			}
		}
	}
	if deployments != 1 {
		return inst, fmt.Errorf("config/default has %d Deployments, want 1", deployments)
	}
	if inst.serviceAccount == "" {
		inst.serviceAccount = "default"
	}
	return inst, nil
}

// serviceAccountKubeconfig writes a kubeconfig that authenticates with a token of the
// ServiceAccount (from the TokenRequest API, through kubectl create token) and trusts the API
// server's CA; nothing else, so the ServiceAccount's RBAC is all it may do.
func serviceAccountKubeconfig(ctx context.Context, namespace, sa, name string) (string, error) {
	token, err := kubectl(ctx, "create", "token", sa, "-n", namespace, "--duration=2h")
	if err != nil {
		return "", err
	}
	adminConfig, err := clientcmd.LoadFromFile(admin)
	if err != nil {
		return "", err
	}
	adminContext := adminConfig.Contexts[adminConfig.CurrentContext]
	cluster := adminConfig.Clusters[adminContext.Cluster]
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["e2e"] = &clientcmdapi.Cluster{
		Server: cluster.Server, CertificateAuthorityData: cluster.CertificateAuthorityData,
	}
	cfg.AuthInfos[sa] = &clientcmdapi.AuthInfo{Token: strings.TrimSpace(token)}
	cfg.Contexts["e2e"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: sa, Namespace: namespace}
	cfg.CurrentContext = "e2e"
	path := filepath.Join(paths.artifacts, name+".kubeconfig")
	return path, clientcmd.WriteToFile(*cfg, path)
}

func createNamespace(ctx context.Context, name string) error {
	_, err := kubectl(ctx, "create", "namespace", name)
	return err
}

// createTokenSecret creates a Secret with the apiToken key; the token goes through stdin.
func createTokenSecret(ctx context.Context, namespace, name, token string) error {
	manifest := fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata:\n  name: %s\n  namespace: %s\n"+
		"stringData:\n  apiToken: %q\n", name, namespace, token)
	_, err := kubectlWithInput(ctx, manifest, "apply", "-f", "-")
	return err
}

// waitFor polls check every interval until it returns true, an error, or ctx ends.
func waitFor(ctx context.Context, interval time.Duration, check func() (bool, error)) error {
	for {
		done, err := check()
		if done || err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

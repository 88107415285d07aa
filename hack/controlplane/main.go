// Command controlplane runs a local Kubernetes control plane for the demo (hack/demo.sh): the same
// kube-apiserver and etcd as the envtest suites, started through controller-runtime's envtest.
// There is no kubelet, scheduler or controller-manager: objects are stored and served, pods never
// run, and namespaces are not finalized. That is all the operator needs.
//
// It writes an admin kubeconfig, prints "ready", and serves until SIGINT or SIGTERM, then stops
// kube-apiserver and etcd. The binaries come from $KUBEBUILDER_ASSETS (see `make envtest`).
//
// Usage:
//
//	KUBEBUILDER_ASSETS=~/.cache/connectivity-operator/envtest/k8s-v1.37.2-etcd-v3.7.3 \
//	    controlplane --dir bin/demo/controlplane --kubeconfig bin/demo/kubeconfig
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "controlplane:", err)
		os.Exit(1)
	}
}

func run() error {
	// A FlagSet of its own: controller-runtime registers --kubeconfig on the global one.
	fs := flag.NewFlagSet("controlplane", flag.ExitOnError)
	dir := fs.String("dir", "", "directory for etcd's data, the API server's certificates, "+
		"the logs of both and their pid files (required)")
	kubeconfig := fs.String("kubeconfig", "", "where to write the admin kubeconfig (required)")
	crdDir := fs.String("crd-dir", "", "optional directory of CRDs to install at start")
	user := fs.String("user", "demo-admin", "name of the admin user (group system:masters) in the kubeconfig")
	_ = fs.Parse(os.Args[1:])
	if *dir == "" || *kubeconfig == "" {
		return errors.New("--dir and --kubeconfig are required")
	}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return errors.New("KUBEBUILDER_ASSETS is not set: point it at the directory `make envtest` builds")
	}

	env, logs, err := newEnvironment(*dir, *crdDir)
	if err != nil {
		return err
	}
	defer closeAll(logs)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	fmt.Println("controlplane: starting etcd and kube-apiserver")
	cfg, err := env.Start()
	if err != nil {
		return fmt.Errorf("start etcd and kube-apiserver (logs in %s): %w", *dir, err)
	}
	err = writeKubeconfig(env, *user, *kubeconfig)
	if err == nil {
		err = writeChildPids(*dir)
	}
	if err != nil {
		return errors.Join(err, env.Stop())
	}
	fmt.Printf("controlplane: kube-apiserver at %s, admin kubeconfig %s\n", cfg.Host, *kubeconfig)
	fmt.Println("ready")

	<-ctx.Done()
	fmt.Println("controlplane: stopping kube-apiserver and etcd")
	if err := env.Stop(); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	fmt.Println("controlplane: stopped")
	return nil
}

// newEnvironment prepares envtest with its state and logs under dir, so that nothing is left in
// the system's temporary directory and the demo's teardown removes everything.
func newEnvironment(dir, crdDir string) (*envtest.Environment, []*os.File, error) {
	certDir := filepath.Join(dir, "certs")
	dataDir := filepath.Join(dir, "etcd-data")
	for _, d := range []string{certDir, dataDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, nil, err
		}
	}
	var logs []*os.File
	open := func(name string) io.Writer {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return io.Discard
		}
		logs = append(logs, f)
		return f
	}
	env := &envtest.Environment{}
	if crdDir != "" {
		env.CRDDirectoryPaths = []string{crdDir}
		env.ErrorIfCRDPathMissing = true
	}
	apiServer := env.ControlPlane.GetAPIServer()
	apiServer.CertDir = certDir
	apiServer.Out = open("kube-apiserver.log")
	apiServer.Err = apiServer.Out
	etcdLog := open("etcd.log")
	env.ControlPlane.Etcd = &envtest.Etcd{DataDir: dataDir, Out: etcdLog, Err: etcdLog}
	return env, logs, nil
}

// writeKubeconfig adds an admin user and writes its kubeconfig, readable by the owner only.
func writeKubeconfig(env *envtest.Environment, name, path string) error {
	user, err := env.AddUser(envtest.User{Name: name, Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("add user %s: %w", name, err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	return os.WriteFile(path, data, 0o600)
}

// writeChildPids records the pids of etcd and kube-apiserver in dir/children.pid. envtest starts
// each in its own process group, so they outlive this process if it is killed with SIGKILL; the
// demo's teardown then stops them by these pids. Only Linux has /proc; elsewhere the file stays
// empty.
func writeChildPids(dir string) error {
	entries, _ := os.ReadDir("/proc")
	self := strconv.Itoa(os.Getpid())
	var pids []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// /proc/PID/stat is "pid (comm) state ppid ..."; comm may hold spaces, so split after ")".
		_, rest, ok := strings.Cut(string(stat), ") ")
		if fields := strings.Fields(rest); ok && len(fields) > 1 && fields[1] == self {
			pids = append(pids, e.Name())
		}
	}
	content := strings.Join(pids, "\n")
	if content != "" {
		content += "\n"
	}
	return os.WriteFile(filepath.Join(dir, "children.pid"), []byte(content), 0o600)
}

func closeAll(files []*os.File) {
	for _, f := range files {
		_ = f.Close()
	}
}

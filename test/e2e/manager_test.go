package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/workersvpc/connectivity-operator/internal/testutil"
)

// managerRunner starts bin/manager as the operator's ServiceAccount, with the Deployment's args,
// and restarts it; every run logs to its own file.
type managerRunner struct {
	kubeconfig  string
	probePort   int
	metricsPort int
	runs        int
	proc        *process
	killed      bool
	logs        []string
}

func newManagerRunner(kubeconfig string) *managerRunner {
	return &managerRunner{kubeconfig: kubeconfig}
}

// args are the manager container's args from config/default, minus leader election, plus what
// a process outside the cluster needs. Later flags win, so the overrides come last.
//
// --leader-elect is dropped: outside a pod controller-runtime cannot find the lease namespace
// (it reads the pod's ServiceAccount namespace file, and main.go sets no LeaderElectionNamespace).
func (m *managerRunner) args() []string {
	var args []string
	for _, a := range operator.args {
		if a == "--leader-elect" || strings.HasPrefix(a, "--leader-elect=") {
			continue
		}
		args = append(args, a)
	}
	return append(args,
		"--kubeconfig", m.kubeconfig,
		"--cloudflare-api-url", api.apiURL(),
		"--cluster-resource-namespace", operator.namespace,
		"--metrics-bind-address", "127.0.0.1:"+strconv.Itoa(m.metricsPort),
		"--health-probe-bind-address", "127.0.0.1:"+strconv.Itoa(m.probePort),
		// A tunnel turns Ready at the poll after its fake is set healthy: 30 s by default.
		"--tunnel-health-poll", "2s",
	)
}

// start runs the manager and waits until /readyz answers 200.
func (m *managerRunner) start(ctx context.Context) error {
	var err error
	if m.probePort == 0 {
		if m.probePort, err = testutil.FreePort(); err != nil {
			return err
		}
		if m.metricsPort, err = testutil.FreePort(); err != nil {
			return err
		}
	}
	m.runs++
	m.killed = false
	logPath := filepath.Join(paths.artifacts, fmt.Sprintf("manager-%d.log", m.runs))
	args := m.args()
	_, _ = fmt.Fprintf(GinkgoWriter, "manager args: %s\n", strings.Join(args, " "))
	m.proc, err = startProcess(fmt.Sprintf("manager (run %d)", m.runs), logPath,
		[]string{"POD_NAMESPACE=" + operator.namespace}, paths.manager, args...)
	if err != nil {
		return err
	}
	m.logs = append(m.logs, logPath)
	readyz := fmt.Sprintf("http://127.0.0.1:%d/readyz", m.probePort)
	httpClient := &http.Client{Timeout: 2 * time.Second}
	waitCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	err = waitFor(waitCtx, 100*time.Millisecond, func() (bool, error) {
		if !m.proc.running() {
			return false, m.proc.errExited()
		}
		resp, err := httpClient.Get(readyz)
		if err != nil {
			return false, nil
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		return fmt.Errorf("manager did not become ready (log %s): %w", logPath, err)
	}
	return nil
}

// kill sends SIGKILL: no graceful shutdown, in-flight calls are cut off.
func (m *managerRunner) kill() {
	m.proc.kill()
	m.killed = true
}

// stop sends SIGTERM; the manager must exit within its graceful shutdown timeout and some.
func (m *managerRunner) stop() error {
	if m.proc == nil || m.killed {
		return nil
	}
	return m.proc.stop(40 * time.Second)
}

// logLines returns the lines of every run's log that contain substr.
func (m *managerRunner) logLines(substr string) ([]string, error) {
	var out []string
	for _, path := range m.logs {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		for line := range strings.SplitSeq(string(data), "\n") {
			if strings.Contains(line, substr) {
				out = append(out, filepath.Base(path)+": "+line)
			}
		}
	}
	return out, nil
}

// expectNoRBACDenials fails the spec when any manager run logged an RBAC denial: the shipped RBAC
// lacks a permission the manager uses.
func expectNoRBACDenials() {
	GinkgoHelper()
	By("checking that no manager run logged an RBAC denial")
	lines, err := manager.logLines(" is forbidden: ")
	Expect(err).NotTo(HaveOccurred())
	shown := lines[:min(len(lines), 3)]
	for i, l := range shown {
		if len(l) > 400 {
			shown[i] = l[:400] + "…"
		}
	}
	Expect(shown).To(BeEmpty(), "the shipped RBAC is missing a permission the manager uses (%d log lines say so)",
		len(lines))
}

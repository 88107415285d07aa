package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// stopTimeout is how long the manager gets to exit after SIGTERM before it is killed; it is
// above the manager's default graceful shutdown timeout of 20 s.
const stopTimeout = 30 * time.Second

// Zap log levels of the managers: info as in production, or 5, at which controller-runtime logs
// the start and end of every reconcile with the object's namespace and name.
const (
	defaultLogLevel   = "info"
	reconcileLogLevel = "5"
)

// managerProc is a manager child process. Once stopped or killed, ended is set and used holds
// what it used.
type managerProc struct {
	cmd     *exec.Cmd
	logPath string
	logFile *os.File
	rss     *rssSampler
	exited  chan struct{}
	waitErr error
	ended   bool
	used    managerUsage
}

// managerUsage is what the manager used over its life in one scenario.
type managerUsage struct {
	peakRSSMiB float64
	cpuSeconds float64
}

// managerArgs are the flags of a manager for a scenario. Timestamps are in nanoseconds, so that
// log lines can be timed against the fake's request log; several replicas elect a leader.
func managerArgs(opts options, env *benchEnv, sc scenario, logLevel string) []string {
	args := []string{
		"--kubeconfig", env.kubeconfig,
		"--cloudflare-api-url", env.apiURL(),
		"--cluster-resource-namespace", operatorNamespace,
		"--metrics-bind-address", "0",
		"--health-probe-bind-address", "0",
		"--resync-interval", sc.resyncInterval(opts).String(),
		"--max-concurrent-reconciles", strconv.Itoa(opts.workers),
		"--zap-log-level", logLevel,
		"--zap-time-encoding", "rfc3339nano",
		"--cloudflare-requests-per-5m", strconv.Itoa(sc.requestsPer5m),
		"--cloudflare-burst", strconv.Itoa(sc.burst),
	}
	if sc.replicas > 1 {
		args = append(args, "--leader-elect")
	}
	return args
}

// startManager starts the n-th manager of a scenario, logging to <log-dir>/bench-<scenario>.log
// for the first and bench-<scenario>-<n>.log for the others.
func startManager(opts options, env *benchEnv, sc scenario, n int, logLevel string) (*managerProc, error) {
	if err := os.MkdirAll(opts.logDir, 0o755); err != nil {
		return nil, err
	}
	name := "bench-" + sc.name
	if n > 1 {
		name += "-" + strconv.Itoa(n)
	}
	logPath := filepath.Join(opts.logDir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(opts.manager, managerArgs(opts, env, sc, logLevel)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("start manager: %w", err)
	}
	m := &managerProc{cmd: cmd, logPath: logPath, logFile: logFile, exited: make(chan struct{})}
	m.rss = sampleRSS(cmd.Process.Pid)
	go func() {
		m.waitErr = cmd.Wait()
		close(m.exited)
	}()
	fmt.Printf("  manager pid %d, log %s\n", cmd.Process.Pid, logPath)
	return m, nil
}

// errExited reports a manager that stopped before the scenario ended.
func (m *managerProc) errExited() error {
	return fmt.Errorf("manager exited early (%v); see its log %s", m.waitErr, m.logPath)
}

// usage reads the manager's peak RSS and CPU time so far; the process must still run.
func (m *managerProc) usage() (managerUsage, error) {
	pid := m.cmd.Process.Pid
	hwm, hwmErr := procStatusKB(pid, "VmHWM")
	ticks, cpuErr := procCPUTicks(pid)
	peak := max(m.rss.finish(), hwm)
	return managerUsage{
		peakRSSMiB: float64(peak) / 1024,
		cpuSeconds: float64(ticks) / float64(clockTicks()),
	}, errors.Join(hwmErr, cpuErr)
}

// stop measures the manager, then stops it with SIGTERM and waits for it to exit, killing it
// after stopTimeout.
func (m *managerProc) stop() error {
	defer m.end()
	select {
	case <-m.exited:
		m.rss.finish()
		return m.errExited()
	default:
	}
	u, err := m.usage()
	m.used = u
	if sigErr := m.cmd.Process.Signal(syscall.SIGTERM); sigErr != nil {
		err = errors.Join(err, sigErr)
	}
	select {
	case <-m.exited:
	case <-time.After(stopTimeout):
		_ = m.cmd.Process.Kill()
		<-m.exited
		err = errors.Join(err, fmt.Errorf("manager did not stop within %s of SIGTERM; killed it", stopTimeout))
	}
	return err
}

// kill measures the manager, then kills it with SIGKILL, as a node failure would, and waits
// until it is gone.
func (m *managerProc) kill() error {
	defer m.end()
	u, err := m.usage()
	m.used = u
	if killErr := m.cmd.Process.Kill(); killErr != nil {
		return errors.Join(err, killErr)
	}
	<-m.exited
	return err
}

// end marks the manager as stopped and closes its log.
func (m *managerProc) end() {
	m.ended = true
	_ = m.logFile.Close()
}

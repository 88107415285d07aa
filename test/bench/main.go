// Command bench measures the real manager binary against the envtest control plane and the fake
// Cloudflare API: how fast objects become Ready, how many API calls they cost on the create path and
// in steady state, how much memory and CPU the manager uses, and how well it fills a rate budget.
// Some scenarios also disrupt the operator (a restart, the leader killed, one token answered 429)
// and measure how it copes. It prints the tables and writes the same figures as JSON. It is a
// measurement, not a test: it fails only when a scenario does not become Ready in time.
//
// Usage (see `make bench`):
//
//	KUBEBUILDER_ASSETS=... go run ./test/bench -manager bin/manager -out bin/bench.json
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap/zapcore"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// options are the command-line flags.
type options struct {
	manager   string
	out       string
	logDir    string
	crdDir    string
	resync    time.Duration
	timeout   time.Duration
	workers   int
	scenarios string
	poll      time.Duration
	markdown  bool
}

// parseFlags reads the command line.
func parseFlags() options {
	var o options
	flag.StringVar(&o.manager, "manager", "bin/manager", "Path of the manager binary to measure.")
	flag.StringVar(&o.out, "out", "bin/bench.json", "Where to write the figures as JSON.")
	flag.StringVar(&o.logDir, "log-dir", "bin", "Directory of the manager logs, one per scenario.")
	flag.StringVar(&o.crdDir, "crds", "config/crd/bases", "Directory of the CRDs to install.")
	flag.DurationVar(&o.resync, "resync-interval", 15*time.Second, "The manager's --resync-interval.")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute,
		"How long a scenario may take to become Ready (above the 5-minute target of 10,000 objects, so a miss is measured).")
	flag.IntVar(&o.workers, "max-concurrent-reconciles", 8, "The manager's --max-concurrent-reconciles.")
	flag.StringVar(&o.scenarios, "scenarios", "", "Comma-separated scenario names to run (default: all).")
	flag.DurationVar(&o.poll, "poll-interval", 250*time.Millisecond,
		"How often readiness is checked (in the benchmark's cache of the objects, fed by a watch).")
	flag.BoolVar(&o.markdown, "markdown", false, "Print the tables as markdown, as in README.md.")
	flag.Parse()
	return o
}

// main runs the benchmark until done or interrupted, and exits 1 if a scenario failed.
func main() {
	opts := parseFlags()
	// The benchmark's own client and cache report only their errors.
	ctrllog.SetLogger(zap.New(zap.Level(zapcore.ErrorLevel)))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := runBench(ctx, opts)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: FAILED:", err)
		os.Exit(1)
	}
}

// runBench starts the environment, runs the scenarios and reports what it measured, also when a
// scenario failed part way.
func runBench(ctx context.Context, opts options) error {
	selected, err := selectScenarios(opts.scenarios)
	if err != nil {
		return err
	}
	if _, err := os.Stat(opts.manager); err != nil {
		return fmt.Errorf("manager binary: %w (build it with make bench)", err)
	}
	env, err := startEnv(ctx, opts.crdDir)
	if err != nil {
		return err
	}
	defer env.stop()

	var results []result
	var runErr error
	for _, sc := range selected {
		res, err := runScenario(ctx, env, opts, sc)
		if err != nil {
			runErr = fmt.Errorf("scenario %s: %w", sc.name, err)
			break
		}
		results = append(results, res)
	}
	if len(results) > 0 {
		if err := report(os.Stdout, opts, results); err != nil {
			runErr = errors.Join(runErr, err)
		}
	}
	return runErr
}

// selectScenarios returns the scenarios named in a comma-separated list, or all of them.
func selectScenarios(names string) ([]scenario, error) {
	if names == "" {
		return allScenarios, nil
	}
	var out []scenario
	for name := range strings.SplitSeq(names, ",") {
		found := false
		for _, sc := range allScenarios {
			if sc.name == strings.TrimSpace(name) {
				out, found = append(out, sc), true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown scenario %q", name)
		}
	}
	return out, nil
}

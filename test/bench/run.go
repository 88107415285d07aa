package main

import (
	"context"
	"errors"
	"time"
)

// run is one scenario in progress: its accounts, the managers it started and its figures so far.
// The disruptions act on it.
type run struct {
	env      *benchEnv
	opts     options
	sc       scenario
	accounts []*benchAccount
	// managers are all the managers started, in order. live is the one the scenario relies on
	// now: a wait fails early when it exits.
	managers []*managerProc
	live     *managerProc
	res      *result
}

// startManager starts the scenario's next manager at a zap log level; it becomes the live one
// unless a live one still runs.
func (r *run) startManager(logLevel string) (*managerProc, error) {
	m, err := startManager(r.opts, r.env, r.sc, len(r.managers)+1, logLevel)
	if err != nil {
		return nil, err
	}
	r.managers = append(r.managers, m)
	r.res.ManagerLogs = append(r.res.ManagerLogs, m.logPath)
	if r.live == nil || r.live.ended {
		r.live = m
	}
	return m, nil
}

// stopManagers stops every manager still running, and records the peak RSS and the CPU time of
// all of them.
func (r *run) stopManagers() error {
	var errs []error
	for _, m := range r.managers {
		if !m.ended {
			errs = append(errs, m.stop())
		}
		r.res.PeakRSSMiB = max(r.res.PeakRSSMiB, m.used.peakRSSMiB)
		r.res.CPUSeconds += m.used.cpuSeconds
	}
	return errors.Join(errs...)
}

// sleep waits d, failing early if the live manager exits or the run is interrupted.
func (r *run) sleep(ctx context.Context, d time.Duration) error {
	return sleepWhileRunning(ctx, d, r.live)
}

// sleepUntil waits until t (see sleep).
func (r *run) sleepUntil(ctx context.Context, t time.Time) error {
	return r.sleep(ctx, time.Until(t))
}

// calls is the fake's request log for the scenario's accounts and tokens.
func (r *run) calls() callLog {
	return newCallLog(r.env.api.Requests(), r.accounts...)
}

// waitAccountsReady waits until the manager has verified every account of the scenario.
func (r *run) waitAccountsReady(ctx context.Context) error {
	for _, acct := range r.accounts {
		if err := waitAccountReady(ctx, r.env, acct, r.live); err != nil {
			return err
		}
	}
	return nil
}

package main

import (
	"context"
	"fmt"
	"time"
)

// restart stops the manager with SIGTERM once every object is Ready and starts a new one, to
// measure what a restart costs: the Cloudflare calls of the new manager's first minute, and how
// long until it has reconciled every object once. The new manager logs at zap level 5, where
// controller-runtime logs the end of every reconcile with the object's name; that log is the
// only per-object record of a reconcile that writes nothing.
type restart struct {
	none
}

// afterReady restarts the manager and measures the new one.
func (restart) afterReady(ctx context.Context, r *run, _, _ time.Time) error {
	if err := r.live.stop(); err != nil {
		return fmt.Errorf("stop the first manager: %w", err)
	}
	start := time.Now()
	mgr, err := r.startManager(reconcileLogLevel)
	if err != nil {
		return err
	}
	reconciled, n, err := r.waitReconciled(ctx, mgr, start.Add(r.opts.timeout))
	if err != nil {
		return err
	}
	fmt.Printf("  the new manager reconciled all %d objects %.1f s after its start\n", n, reconciled.Sub(start).Seconds())
	if err := r.sleepUntil(ctx, start.Add(disruptionWindow)); err != nil {
		return err
	}
	d := &disruptionResult{
		Kind: "restart", Description: "SIGTERM, then a new manager",
		SecondsToRecovered: reconciled.Sub(start).Seconds(), ObjectsReconciled: n,
	}
	calls := r.calls()
	if t, ok := calls.firstAfter(start, anyCall); ok {
		d.SecondsToFirstCall = t.Sub(start).Seconds()
	}
	recordWindow(d, calls, start)
	r.res.Disruption = d
	return r.checkStillReady(ctx)
}

// waitReconciled polls the manager's log until it has finished a reconcile of every object of
// the scenario, and returns when the last of them first finished and how many there are.
func (r *run) waitReconciled(ctx context.Context, mgr *managerProc, deadline time.Time) (time.Time, int, error) {
	for {
		lines, err := readManagerLog(mgr.logPath)
		if err != nil {
			return time.Time{}, 0, err
		}
		last, n := r.lastFirstReconcile(lines)
		if n == r.sc.total() {
			return last, n, nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, n, fmt.Errorf("the new manager reconciled only %d of %d objects by the timeout (log %s)",
				n, r.sc.total(), mgr.logPath)
		}
		if err := r.sleep(ctx, r.opts.poll); err != nil {
			return time.Time{}, n, err
		}
	}
}

// lastFirstReconcile finds, among the scenario's objects, when each first finished a reconcile,
// and returns the latest of those times and how many objects have one.
func (r *run) lastFirstReconcile(lines []logLine) (time.Time, int) {
	namespaces := map[string]bool{}
	for _, acct := range r.accounts {
		namespaces[acct.namespace] = true
	}
	var last time.Time
	n := 0
	for key, t := range firstReconciles(lines, serviceController) {
		if !namespaces[key.Namespace] {
			continue
		}
		n++
		if t.After(last) {
			last = t
		}
	}
	return last, n
}

// checkStillReady fails unless every object is still Ready at its generation.
func (r *run) checkStillReady(ctx context.Context) error {
	pending, err := markAccountsReady(ctx, r.env, r.accounts, r.sc.objects, make([]time.Time, len(r.accounts)), time.Now())
	if err != nil {
		return err
	}
	if pending != "" {
		return fmt.Errorf("objects no longer Ready: %s", pending)
	}
	return nil
}

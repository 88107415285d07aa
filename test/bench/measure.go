package main

import (
	"context"
	"fmt"
	"time"

	"github.com/workersvpc/connectivity-operator/internal/cloudflare/cloudflaretest"
)

// measure waits for the accounts, applies the objects and times them to Ready, lets the
// disruption act and record its figures, watches the steady state, and finally compares the
// fake's services with the objects.
func (r *run) measure(ctx context.Context) error {
	managerStart := time.Now()
	if err := r.waitAccountsReady(ctx); err != nil {
		return err
	}
	d := r.sc.newDisruption()
	first, ready, err := r.createAll(ctx, d)
	if err != nil {
		return err
	}
	calls := r.calls()
	setup := calls.between(managerStart, first)
	r.res.SetupCalls, r.res.SetupCallsByRoute = setup.count(), setup.byRoute()
	recordCreatePath(r.res, calls.between(first, ready), r.sc, first)
	if err := d.afterReady(ctx, r, first, ready); err != nil {
		return err
	}
	if !r.sc.skipSteady {
		if err := r.steady(ctx); err != nil {
			return err
		}
	}
	r.res.CreatesRefused = r.calls().between(managerStart, time.Now()).routeStatus(cloudflaretest.RouteCreate, 400)
	return r.checkRemote(ctx)
}

// createAll creates every object, telling the disruption before the first create and after each,
// and waits until all are Ready. It returns when the creates started and when all were Ready, and
// records the times to Ready and the API server writes in between.
func (r *run) createAll(ctx context.Context, d disruption) (first, ready time.Time, err error) {
	if err := d.beforeCreate(ctx, r); err != nil {
		return first, ready, err
	}
	before, err := scrapeWrites(ctx, r.env)
	if err != nil {
		return first, ready, err
	}
	first = time.Now()
	if err := createServices(ctx, r.env, r.accounts, r.sc.objects, func(n int) { d.created(r, n) }); err != nil {
		return first, ready, err
	}
	r.res.SubmitSeconds = time.Since(first).Seconds()
	readyAt, err := waitAllReady(ctx, r.env, r.accounts, r.sc.objects, first.Add(r.opts.timeout), r.opts.poll, r.live)
	if err != nil {
		return first, ready, err
	}
	after, err := scrapeWrites(ctx, r.env)
	if err != nil {
		return first, ready, err
	}
	ready = r.recordReady(first, readyAt)
	recordWrites(r.res, after.since(before), r.sc.total())
	return first, ready, nil
}

// recordReady records the seconds to Ready, overall and per account, and returns when the last
// account was Ready.
func (r *run) recordReady(first time.Time, readyAt []time.Time) time.Time {
	var last time.Time
	for _, t := range readyAt {
		r.res.SecondsToReadyByAccount = append(r.res.SecondsToReadyByAccount, t.Sub(first).Seconds())
		if t.After(last) {
			last = t
		}
	}
	r.res.SecondsToReady = last.Sub(first).Seconds()
	fmt.Printf("  %d objects Ready in %.1f s\n", r.sc.total(), r.res.SecondsToReady)
	return last
}

// recordCreatePath fills the create-path figures from the calls made while creating.
func recordCreatePath(res *result, calls callLog, sc scenario, first time.Time) {
	n := float64(sc.total())
	res.CreateCalls = calls.count()
	res.CreateCallsByRoute = calls.byRoute()
	res.CallsPerSecond = calls.perSecond(first)
	res.CallsPerObject = float64(res.CreateCalls) / n
	res.Posts = calls.route(cloudflaretest.RouteCreate)
	res.PostsPerObject = float64(res.Posts) / n
	if sc.budget {
		// The fake's budget as a rate is the 100% of "budget used".
		perSecond := budgetLimit / budgetWindow.Seconds()
		used := 100 * float64(res.CreateCalls) / (perSecond * res.SecondsToReady)
		res.BudgetUsedPercent = &used
	}
}

// steady watches the steady state for two resync intervals and records its calls.
func (r *run) steady(ctx context.Context) error {
	start := time.Now()
	resync := r.sc.resyncInterval(r.opts)
	window := 2 * resync
	fmt.Printf("  watching the steady state for %s\n", window)
	if err := r.sleep(ctx, window); err != nil {
		return err
	}
	all := r.env.api.Requests()
	for _, acct := range r.accounts {
		lists := newCallLog(all, acct).between(start, start.Add(window)).route(cloudflaretest.RouteList)
		r.res.SteadyListsPerAccount = append(r.res.SteadyListsPerAccount, lists)
	}
	steady := newCallLog(all, r.accounts...).between(start, start.Add(window))
	recordSteady(r.res, steady, window, resync)
	return nil
}

// recordSteady fills the steady-state figures from the calls made in the window.
func recordSteady(res *result, calls callLog, window, resync time.Duration) {
	res.SteadyWindowSeconds = window.Seconds()
	res.SteadyCalls = calls.count()
	res.SteadyCallsByRoute = calls.byRoute()
	res.SteadyRequests = calls.describe()
	intervals := window.Seconds() / resync.Seconds()
	res.SteadyCallsPerResync = float64(res.SteadyCalls) / (intervals * float64(res.Accounts))
	res.SteadyGetPutPost = calls.route(cloudflaretest.RouteGet, cloudflaretest.RouteUpdate, cloudflaretest.RouteCreate)
}

// sleepWhileRunning waits d, failing early if the manager exits or the run is interrupted.
func sleepWhileRunning(ctx context.Context, d time.Duration, mgr *managerProc) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-mgr.exited:
		return mgr.errExited()
	case <-ctx.Done():
		return ctx.Err()
	}
}

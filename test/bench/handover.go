package main

import (
	"context"
	"fmt"
	"time"

	"github.com/workersvpc/connectivity-operator/internal/cloudflare/cloudflaretest"
)

// leaderKill runs two managers with leader election and kills the leader with SIGKILL once a
// third of the creates went out, as a node failure would, to measure the takeover: how long until
// the other replica calls Cloudflare and every object is Ready, and that no object got two
// services. The survivor must wait for the leader's Lease to expire: the manager keeps
// controller-runtime's defaults (15 s lease, 10 s renew deadline, 2 s retry period).
type leaderKill struct {
	leader, survivor *managerProc
	killAt           int
	killed           time.Time
	killErr          error
}

// beforeCreate finds the leader and makes it the live manager.
func (k *leaderKill) beforeCreate(ctx context.Context, r *run) error {
	leader, err := r.findLeader(ctx, time.Now().Add(accountReadyTimeout))
	if err != nil {
		return err
	}
	k.leader, k.survivor = r.managers[0], r.managers[1]
	if leader == k.survivor {
		k.leader, k.survivor = k.survivor, k.leader
	}
	r.live = k.leader
	k.killAt = r.sc.total() / 3
	fmt.Printf("  leader: %s; killing it after %d creates\n", k.leader.logPath, k.killAt)
	return nil
}

// created kills the leader once killAt creates went out; the survivor becomes the live manager.
func (k *leaderKill) created(r *run, n int) {
	if n != k.killAt {
		return
	}
	k.killed = time.Now()
	k.killErr = k.leader.kill()
	r.live = k.survivor
}

// afterReady waits out the minute after the kill and records the takeover.
func (k *leaderKill) afterReady(ctx context.Context, r *run, first, ready time.Time) error {
	if k.killed.IsZero() || k.killErr != nil {
		return fmt.Errorf("the leader was not killed: %v", k.killErr)
	}
	if err := r.sleepUntil(ctx, k.killed.Add(disruptionWindow)); err != nil {
		return err
	}
	d := &disruptionResult{
		Kind:               "leader-kill",
		Description:        fmt.Sprintf("SIGKILL of the leader after %d of %d creates", k.killAt, r.sc.total()),
		SecondsToRecovered: ready.Sub(k.killed).Seconds(),
		CreatesBeforeKill:  k.killAt,
	}
	calls := r.calls()
	d.PostsBeforeKill = calls.between(first, k.killed).route(cloudflaretest.RouteCreate)
	if t, ok := calls.firstAfter(k.killed, anyCall); ok {
		d.SecondsToFirstCall = t.Sub(k.killed).Seconds()
	}
	lines, err := readManagerLog(k.survivor.logPath)
	if err != nil {
		return err
	}
	if l, ok := firstLine(lines, serviceController, msgStartingWorkers); ok {
		d.SecondsToTakeover = l.TS.Sub(k.killed).Seconds()
	}
	recordWindow(d, calls, k.killed)
	r.res.Disruption = d
	return nil
}

// findLeader polls the managers' logs until one has started the workers of its ConnectivityService
// controller, which only the leader does, and returns it.
func (r *run) findLeader(ctx context.Context, deadline time.Time) (*managerProc, error) {
	for {
		for _, m := range r.managers {
			lines, err := readManagerLog(m.logPath)
			if err != nil {
				return nil, err
			}
			if _, ok := firstLine(lines, serviceController, msgStartingWorkers); ok {
				return m, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no manager became the leader within %s", accountReadyTimeout)
		}
		if err := r.sleep(ctx, r.opts.poll); err != nil {
			return nil, err
		}
	}
}

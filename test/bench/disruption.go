package main

import (
	"context"
	"time"

	"github.com/workersvpc/connectivity-operator/internal/cloudflare/cloudflaretest"
)

// disruptionWindow is how long after a disruption its Cloudflare calls are counted.
const disruptionWindow = time.Minute

// disruption is what a scenario does to the managers or the fake besides creating objects, to
// measure how the operator copes. It is told when the creates start, as they go out, and when
// every object is Ready; it records its figures in the run's result.
type disruption interface {
	// beforeCreate runs once the accounts are Ready, just before the first create.
	beforeCreate(ctx context.Context, r *run) error
	// created is told how many creates have gone out; it is called from the creating goroutines.
	created(r *run, n int)
	// afterReady runs once every object is Ready; first is when the creates started.
	afterReady(ctx context.Context, r *run, first, ready time.Time) error
}

// none is the disruption of a plain scenario; the others embed it for the steps they skip.
type none struct{}

// beforeCreate does nothing: nothing is disrupted before the creates.
func (none) beforeCreate(context.Context, *run) error { return nil }

// created does nothing: nothing is disrupted during the creates.
func (none) created(*run, int) {}

// afterReady does nothing: there are no disruption figures to record.
func (none) afterReady(context.Context, *run, time.Time, time.Time) error { return nil }

// recordWindow fills the figures of the calls in the window after a disruption that began at
// start.
func recordWindow(d *disruptionResult, calls callLog, start time.Time) {
	window := calls.between(start, start.Add(disruptionWindow))
	d.WindowSeconds = disruptionWindow.Seconds()
	d.WindowCallsByRoute = window.byRoute()
	d.ListPasses = window.listPasses()
	d.ProbeLists = window.probeLists()
	d.VerifyCalls = window.route(cloudflaretest.RouteVerify)
	d.OtherCalls = window.route(cloudflaretest.RouteGet, cloudflaretest.RouteUpdate,
		cloudflaretest.RouteCreate, cloudflaretest.RouteDelete)
	d.Window429s = window.status(429)
}

// anyCall accepts every call, for firstAfter.
func anyCall(cloudflaretest.Request) bool { return true }

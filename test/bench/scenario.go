package main

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/workersvpc/connectivity-operator/internal/cloudflare/fake"
)

// The fake's budget in the budget-limited scenario: 600 calls per 10 s per token (60 calls/s),
// and a 30 s block for the token that goes over.
const (
	budgetLimit  = 600
	budgetWindow = 10 * time.Second
	budgetBlock  = 30 * time.Second
)

// accountReadyTimeout bounds how long a fresh manager may take to verify the scenario's account.
const accountReadyTimeout = time.Minute

// scenario is one measurement: how many objects, the manager's budget flags, and whether the
// fake enforces a budget.
type scenario struct {
	name          string
	objects       int
	requestsPer5m int
	burst         int
	budget        bool
}

// allScenarios are run in this order, each with its own account, token, namespace and manager.
var allScenarios = []scenario{
	{name: "unlimited-100", objects: 100, requestsPer5m: 1000000, burst: 1000},
	{name: "unlimited-1000", objects: 1000, requestsPer5m: 1000000, burst: 1000},
	// 17,100 per 5 minutes is 57 calls/s: with a burst of 20, any 10 s window stays at or
	// below 590 of the fake's 600.
	{name: "budget-1000", objects: 1000, requestsPer5m: 17100, burst: 20, budget: true},
}

// result holds the figures of one scenario; the JSON carries them as they are.
type result struct {
	// Scenario names the scenario; Objects is how many ConnectivityServices it applied.
	Scenario string `json:"scenario"`
	Objects  int    `json:"objects"`
	// RequestsPer5m and Burst are the manager's budget flags.
	RequestsPer5m int `json:"requestsPer5m"`
	Burst         int `json:"burst"`
	// SecondsToReady runs from the first create until every object is Ready at its generation.
	SecondsToReady float64 `json:"secondsToReady"`
	// SetupCalls are the calls of the scenario's token before the first create (account checks).
	SetupCalls        int            `json:"setupCalls"`
	SetupCallsByRoute map[string]int `json:"setupCallsByRoute"`
	// SubmitSeconds is how long the benchmark took to create the objects (part of SecondsToReady).
	SubmitSeconds float64 `json:"submitSeconds"`
	// CreateCalls counts every call of the scenario's token while creating, by route; CallsPerSecond
	// spreads them over the seconds since the first create, to show where a budget went unused.
	CreateCalls        int            `json:"createPathCalls"`
	CreateCallsByRoute map[string]int `json:"createPathCallsByRoute"`
	CallsPerSecond     []int          `json:"createPathCallsPerSecond"`
	CallsPerObject     float64        `json:"createPathCallsPerObject"`
	Posts              int            `json:"createPathPosts"`
	PostsPerObject     float64        `json:"createPathPostsPerObject"`
	// The Steady figures cover two resync intervals after all objects were Ready: the calls by
	// route and one by one, the calls per interval, and the GET, PUT and POST calls among them.
	SteadyWindowSeconds  float64        `json:"steadyWindowSeconds"`
	SteadyCalls          int            `json:"steadyCalls"`
	SteadyCallsByRoute   map[string]int `json:"steadyCallsByRoute"`
	SteadyRequests       []string       `json:"steadyRequests"`
	SteadyCallsPerResync float64        `json:"steadyCallsPerInterval"`
	SteadyGetPutPost     int            `json:"steadyGetPutPost"`
	// RateLimited counts 429 answers to the scenario's token over the whole scenario.
	RateLimited int `json:"rateLimited429s"`
	// BudgetUsedPercent is creating-phase calls / (60 calls/s × creating seconds); budget scenarios only.
	BudgetUsedPercent *float64 `json:"budgetUsedPercent,omitempty"`
	// PeakRSSMiB and CPUSeconds are the manager's, over its whole life in the scenario.
	PeakRSSMiB float64 `json:"peakRSSMiB"`
	CPUSeconds float64 `json:"cpuSeconds"`
	// LoadAverage is the host's 1-minute load average when the scenario started and ended: other
	// work on the machine slows the control plane and the manager.
	LoadAverage [2]float64 `json:"loadAverage"`
	// ManagerLog is the path of the manager's log.
	ManagerLog string `json:"managerLog"`
}

// runScenario measures one scenario end to end and cleans up after it.
func runScenario(ctx context.Context, env *benchEnv, opts options, sc scenario) (result, error) {
	fmt.Printf("scenario %s: %d objects\n", sc.name, sc.objects)
	res := result{Scenario: sc.name, Objects: sc.objects, RequestsPer5m: sc.requestsPer5m, Burst: sc.burst}
	res.LoadAverage[0] = loadAverage()
	acct, ns, err := prepare(ctx, env, sc)
	if err != nil {
		return res, err
	}
	if sc.budget {
		env.api.SetBudget(budgetLimit, budgetWindow, budgetBlock)
		defer env.api.SetBudget(0, 0, 0)
	}
	mgr, err := startManager(opts, env, sc)
	if err != nil {
		return res, err
	}
	res.ManagerLog = mgr.logPath
	started := time.Now()
	err = measure(ctx, env, opts, sc, mgr, acct, ns, &res)
	usage, stopErr := mgr.stop()
	res.LoadAverage[1] = loadAverage()
	res.PeakRSSMiB, res.CPUSeconds = usage.peakRSSMiB, usage.cpuSeconds
	res.RateLimited = newCallLog(env.api.Requests(), acct.id).between(started, time.Now()).status(429)
	if err != nil {
		return res, fmt.Errorf("%w (manager log: %s)", err, mgr.logPath)
	}
	if stopErr != nil {
		return res, stopErr
	}
	if err := cleanup(ctx, env, ns, acct); err != nil {
		return res, fmt.Errorf("cleanup: %w", err)
	}
	return res, nil
}

// prepare registers the scenario's account in the fake and the cluster, and creates its namespace.
func prepare(ctx context.Context, env *benchEnv, sc scenario) (*benchAccount, string, error) {
	name := "bench-" + sc.name
	acct, err := env.addAccount(ctx, name, name+"-credentials")
	if err != nil {
		return nil, "", err
	}
	if err := env.k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		return nil, "", fmt.Errorf("create namespace %s: %w", name, err)
	}
	return acct, name, nil
}

// measure waits for the account, applies the objects, times them to Ready, then watches the
// steady state for two resync intervals.
func measure(ctx context.Context, env *benchEnv, opts options, sc scenario, mgr *managerProc,
	acct *benchAccount, ns string, res *result) error {
	managerStart := time.Now()
	if err := waitAccountReady(ctx, env, acct, mgr); err != nil {
		return err
	}
	first := time.Now()
	if err := createServices(ctx, env, ns, acct, sc.objects); err != nil {
		return err
	}
	res.SubmitSeconds = time.Since(first).Seconds()
	ready, err := waitAllReady(ctx, env, ns, sc.objects, first.Add(opts.timeout), opts.poll, mgr)
	if err != nil {
		return err
	}
	res.SecondsToReady = ready.Sub(first).Seconds()
	fmt.Printf("  %d objects Ready in %.1f s\n", sc.objects, res.SecondsToReady)
	calls := newCallLog(env.api.Requests(), acct.id)
	setup := calls.between(managerStart, first)
	res.SetupCalls, res.SetupCallsByRoute = setup.count(), setup.byRoute()
	recordCreatePath(res, calls.between(first, ready), sc, first)

	steadyStart := time.Now()
	window := 2 * opts.resync
	fmt.Printf("  watching the steady state for %s\n", window)
	if err := sleepWhileRunning(ctx, window, mgr); err != nil {
		return err
	}
	steady := newCallLog(env.api.Requests(), acct.id).between(steadyStart, steadyStart.Add(window))
	recordSteady(res, steady, window, opts.resync)
	return nil
}

// recordCreatePath fills the create-path figures from the calls made while creating.
func recordCreatePath(res *result, calls callLog, sc scenario, first time.Time) {
	n := float64(sc.objects)
	res.CreateCalls = calls.count()
	res.CreateCallsByRoute = calls.byRoute()
	res.CallsPerSecond = calls.perSecond(first)
	res.CallsPerObject = float64(res.CreateCalls) / n
	res.Posts = calls.route(fake.RouteCreate)
	res.PostsPerObject = float64(res.Posts) / n
	if sc.budget {
		// The fake's budget as a rate is the 100% of "budget used".
		perSecond := budgetLimit / budgetWindow.Seconds()
		used := 100 * float64(res.CreateCalls) / (perSecond * res.SecondsToReady)
		res.BudgetUsedPercent = &used
	}
}

// recordSteady fills the steady-state figures from the calls made in the window.
func recordSteady(res *result, calls callLog, window, resync time.Duration) {
	res.SteadyWindowSeconds = window.Seconds()
	res.SteadyCalls = calls.count()
	res.SteadyCallsByRoute = calls.byRoute()
	res.SteadyRequests = calls.describe()
	res.SteadyCallsPerResync = float64(res.SteadyCalls) / (window.Seconds() / resync.Seconds())
	res.SteadyGetPutPost = calls.route(fake.RouteGet, fake.RouteUpdate, fake.RouteCreate)
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

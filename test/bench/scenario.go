package main

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The fake's budget in the budget-limited scenario: 600 calls per 10 s per token (60 calls/s),
// and a 30 s block for the token that goes over.
const (
	budgetLimit  = 600
	budgetWindow = 10 * time.Second
	budgetBlock  = 30 * time.Second
)

// accountReadyTimeout bounds how long a fresh manager may take to verify the scenario's accounts,
// and to win its leader election.
const accountReadyTimeout = time.Minute

// Budget flags that leave the manager unthrottled, for the scenarios that measure the operator
// rather than a rate limit.
const (
	unlimitedPer5m = 1000000
	unlimitedBurst = 1000
)

// scenario is one measurement: how many accounts and objects, the manager's budget flags, whether
// the fake enforces a budget, how many managers run, and what disrupts them.
type scenario struct {
	name string
	// accounts is how many Cloudflare accounts are used, each with its own token,
	// ClusterCloudflareAccount and namespace; zero means one.
	accounts int
	// objects is how many ConnectivityServices each account gets.
	objects       int
	requestsPer5m int
	burst         int
	budget        bool
	// resync overrides -resync-interval for this scenario when set.
	resync time.Duration
	// replicas is how many managers run at once; more than one run with --leader-elect.
	replicas int
	// skipSteady leaves out the steady-state window (the disruption measures its own).
	skipSteady bool
	// disrupt makes the scenario's disruption, fresh for each run; nil means none.
	disrupt func() disruption
}

// allScenarios are run in this order, each with its own accounts, tokens, namespaces and managers.
var allScenarios = []scenario{
	{name: "unlimited-100", objects: 100, requestsPer5m: unlimitedPer5m, burst: unlimitedBurst},
	{name: "unlimited-1000", objects: 1000, requestsPer5m: unlimitedPer5m, burst: unlimitedBurst},
	// 17,100 per 5 minutes is 57 calls/s: with a burst of 20, any 10 s window stays at or
	// below 590 of the fake's 600.
	{name: "budget-1000", objects: 1000, requestsPer5m: 17100, burst: 20, budget: true},
	{name: "accounts-10x1000", accounts: 10, objects: 1000, requestsPer5m: unlimitedPer5m, burst: unlimitedBurst},
	// The operator's default resync interval, so that the minute after the restart shows what
	// the restart costs and no periodic resync.
	{name: "restart-1000", objects: 1000, requestsPer5m: unlimitedPer5m, burst: unlimitedBurst,
		resync: 10 * time.Minute, skipSteady: true, disrupt: func() disruption { return &restart{} }},
	{name: "leader-handover", objects: 300, requestsPer5m: unlimitedPer5m, burst: unlimitedBurst,
		replicas: 2, disrupt: func() disruption { return &leaderKill{} }},
	// ten-accounts-100 is one-token-429 without the 429s: its baseline.
	{name: "ten-accounts-100", accounts: 10, objects: 100, requestsPer5m: unlimitedPer5m, burst: unlimitedBurst},
	{name: "one-token-429", accounts: 10, objects: 100, requestsPer5m: unlimitedPer5m, burst: unlimitedBurst,
		disrupt: func() disruption { return &tokenBlock{} }},
}

// accountCount is how many accounts the scenario uses.
func (sc scenario) accountCount() int {
	return max(sc.accounts, 1)
}

// total is how many objects the scenario creates in all.
func (sc scenario) total() int {
	return sc.accountCount() * sc.objects
}

// resyncInterval is the manager's --resync-interval in this scenario.
func (sc scenario) resyncInterval(opts options) time.Duration {
	if sc.resync > 0 {
		return sc.resync
	}
	return opts.resync
}

// newDisruption makes the scenario's disruption, or none.
func (sc scenario) newDisruption() disruption {
	if sc.disrupt == nil {
		return none{}
	}
	return sc.disrupt()
}

// runScenario measures one scenario end to end and cleans up after it.
func runScenario(ctx context.Context, env *benchEnv, opts options, sc scenario) (result, error) {
	fmt.Printf("scenario %s: %d accounts × %d objects\n", sc.name, sc.accountCount(), sc.objects)
	r := &run{env: env, opts: opts, sc: sc, res: &result{
		Scenario: sc.name, Accounts: sc.accountCount(), Objects: sc.total(),
		RequestsPer5m: sc.requestsPer5m, Burst: sc.burst,
		ResyncInterval: sc.resyncInterval(opts).String(),
	}}
	r.res.LoadAverage[0] = loadAverage()
	if err := r.prepare(ctx); err != nil {
		return *r.res, err
	}
	if sc.budget {
		env.api.SetBudget(budgetLimit, budgetWindow, budgetBlock)
		defer env.api.SetBudget(0, 0, 0)
	}
	started := time.Now()
	err := r.startManagers()
	if err == nil {
		err = r.measure(ctx)
	}
	stopErr := r.stopManagers()
	r.res.LoadAverage[1] = loadAverage()
	r.res.RateLimited = r.calls().between(started, time.Now()).status(429)
	if err != nil {
		return *r.res, fmt.Errorf("%w (manager logs: %v)", err, r.res.ManagerLogs)
	}
	if stopErr != nil {
		return *r.res, stopErr
	}
	if err := cleanup(ctx, env, r.accounts); err != nil {
		return *r.res, fmt.Errorf("cleanup: %w", err)
	}
	return *r.res, nil
}

// prepare registers the scenario's accounts in the fake and the cluster, each with its namespace.
// A scenario of one account keeps the names bench-<scenario>; more are numbered from 1.
func (r *run) prepare(ctx context.Context) error {
	n := r.sc.accountCount()
	for i := range n {
		name := "bench-" + r.sc.name
		if n > 1 {
			name = fmt.Sprintf("%s-%d", name, i+1)
		}
		acct, err := r.env.addAccount(ctx, name, name+"-credentials")
		if err != nil {
			return err
		}
		acct.namespace = name
		r.accounts = append(r.accounts, acct)
		if err := r.env.k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
			return fmt.Errorf("create namespace %s: %w", name, err)
		}
	}
	return nil
}

// startManagers starts the scenario's replicas.
func (r *run) startManagers() error {
	for range max(r.sc.replicas, 1) {
		if _, err := r.startManager(defaultLogLevel); err != nil {
			return err
		}
	}
	return nil
}

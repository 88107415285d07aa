package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
)

// creators is how many goroutines create the objects: enough that the benchmark's creates are
// not what limits a scenario of 10,000 objects.
const creators = 16

// accountPollInterval is how often the account is checked for Ready.
const accountPollInterval = 250 * time.Millisecond

// newService is the i-th benchmark object of an account: an http service on 10.0.x.y through the
// tunnel, in the account's namespace.
func newService(acct *benchAccount, i int) *v1alpha1.ConnectivityService {
	return &v1alpha1.ConnectivityService{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("svc-%04d", i), Namespace: acct.namespace},
		Spec: v1alpha1.ConnectivityServiceSpec{
			Type: v1alpha1.ServiceTypeHTTP,
			Host: v1alpha1.ServiceHost{
				IPv4:    fmt.Sprintf("10.0.%d.%d", i/250, i%250+1),
				Network: &v1alpha1.Network{TunnelID: tunnelID},
			},
			AccountRef: &v1alpha1.AccountReference{Kind: v1alpha1.AccountKindCluster, Name: acct.object},
		},
	}
}

// createServices creates perAccount objects in every account at once, from a few goroutines,
// taking the accounts in turn so that they all progress together. created, when set, is told
// after each create how many have gone out so far.
func createServices(ctx context.Context, env *benchEnv, accts []*benchAccount, perAccount int,
	created func(n int)) error {
	var done atomic.Int64
	n := len(accts)
	err := parallel(n*perAccount, func(i int) error {
		if err := env.k8s.Create(ctx, newService(accts[i%n], i/n)); err != nil {
			return err
		}
		if created != nil {
			created(int(done.Add(1)))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create services: %w", err)
	}
	return nil
}

// parallel calls fn for 0..n-1 from a few goroutines; each goroutine stops at its first error.
func parallel(n int, fn func(i int) error) error {
	var next atomic.Int64
	errs := make([]error, creators)
	var wg sync.WaitGroup
	for w := range creators {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n && errs[w] == nil; i = int(next.Add(1)) - 1 {
				errs[w] = fn(i)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// waitAccountReady waits until the manager has verified the scenario's account.
func waitAccountReady(ctx context.Context, env *benchEnv, acct *benchAccount, mgr *managerProc) error {
	deadline := time.Now().Add(accountReadyTimeout)
	key := types.NamespacedName{Name: acct.object}
	for {
		obj := &v1alpha1.ClusterCloudflareAccount{}
		if err := env.k8s.Get(ctx, key, obj); err != nil {
			return err
		}
		if meta.IsStatusConditionTrue(obj.Status.Conditions, v1alpha1.ConditionReady) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ClusterCloudflareAccount %s not Ready after %s: %s",
				acct.object, accountReadyTimeout, readyMessage(obj.Status.Conditions))
		}
		if err := sleepWhileRunning(ctx, accountPollInterval, mgr); err != nil {
			return err
		}
	}
}

// waitAllReady polls the benchmark's cache until the perAccount objects of every account are
// Ready at their generation, and returns when it saw each account get there. The cache follows
// the objects with a watch, so polling costs the API server nothing even for 10,000 objects.
func waitAllReady(ctx context.Context, env *benchEnv, accts []*benchAccount, perAccount int, deadline time.Time,
	poll time.Duration, mgr *managerProc) ([]time.Time, error) {
	readyAt := make([]time.Time, len(accts))
	for {
		now := time.Now()
		pending, err := markAccountsReady(ctx, env, accts, perAccount, readyAt, now)
		if err != nil || pending == "" {
			return readyAt, err
		}
		if now.After(deadline) {
			return nil, fmt.Errorf("not all objects Ready by the timeout: %s", pending)
		}
		if err := sleepWhileRunning(ctx, poll, mgr); err != nil {
			return nil, err
		}
	}
}

// markAccountsReady sets readyAt to now for the accounts not Ready before whose objects are all
// Ready now. It describes the accounts still waiting, or returns "" when none is.
func markAccountsReady(ctx context.Context, env *benchEnv, accts []*benchAccount, perAccount int, readyAt []time.Time,
	now time.Time) (string, error) {
	var pending []string
	for i, acct := range accts {
		if !readyAt[i].IsZero() {
			continue
		}
		items, err := cachedServices(ctx, env, acct)
		if err != nil {
			return "", err
		}
		ready, waiting := readiness(items)
		if ready == perAccount {
			readyAt[i] = now
			continue
		}
		pending = append(pending, fmt.Sprintf("%s: %d of %d Ready; not Ready by reason: %s",
			acct.namespace, ready, perAccount, waiting))
	}
	return strings.Join(pending, "; "), nil
}

// cachedServices lists an account's objects from the benchmark's cache. They are the cache's own
// copies: read them, never change them.
func cachedServices(ctx context.Context, env *benchEnv, acct *benchAccount) ([]v1alpha1.ConnectivityService, error) {
	var list v1alpha1.ConnectivityServiceList
	err := env.watched.List(ctx, &list, client.InNamespace(acct.namespace), client.UnsafeDisableDeepCopy)
	return list.Items, err
}

// readiness counts the objects that are Ready at their generation, and summarises why the
// others are not: how many per reason, with one message as an example.
func readiness(items []v1alpha1.ConnectivityService) (int, string) {
	ready := 0
	counts, examples := map[string]int{}, map[string]string{}
	for i := range items {
		s := &items[i]
		cond := meta.FindStatusCondition(s.Status.Conditions, v1alpha1.ConditionReady)
		reason, message := "NoReadyCondition", "the operator has not reported on it yet"
		switch {
		case cond != nil && cond.Status == metav1.ConditionTrue && s.Status.ObservedGeneration == s.Generation:
			ready++
			continue
		case cond != nil:
			reason, message = cond.Reason, cond.Message
		}
		counts[reason]++
		if _, ok := examples[reason]; !ok {
			examples[reason] = s.Name + ": " + message
		}
	}
	summary := make([]string, 0, len(counts))
	for _, r := range slices.Sorted(maps.Keys(counts)) {
		summary = append(summary, fmt.Sprintf("%d× %s (e.g. %s)", counts[r], r, examples[r]))
	}
	return ready, strings.Join(summary, "; ")
}

// readyMessage describes a Ready condition for an error message.
func readyMessage(conds []metav1.Condition) string {
	cond := meta.FindStatusCondition(conds, v1alpha1.ConditionReady)
	if cond == nil {
		return "no Ready condition"
	}
	return fmt.Sprintf("Ready=%s %s: %s", cond.Status, cond.Reason, cond.Message)
}

// cleanup removes a finished scenario's objects and accounts, with the managers stopped, so later
// managers neither cache nor reconcile them. The finalizers are dropped first: nothing is to be
// deleted in the fake, whose accounts are never used again.
func cleanup(ctx context.Context, env *benchEnv, accts []*benchAccount) error {
	for _, acct := range accts {
		var list v1alpha1.ConnectivityServiceList
		if err := env.k8s.List(ctx, &list, client.InNamespace(acct.namespace)); err != nil {
			return err
		}
		if err := parallel(len(list.Items), func(i int) error {
			return dropFinalizers(ctx, env.k8s, &list.Items[i])
		}); err != nil {
			return err
		}
		err := env.k8s.DeleteAllOf(ctx, &v1alpha1.ConnectivityService{}, client.InNamespace(acct.namespace))
		if err := errors.Join(err, env.removeAccount(ctx, acct)); err != nil {
			return err
		}
	}
	return env.removeElectionLease(ctx)
}

// dropFinalizers removes every finalizer of the object.
func dropFinalizers(ctx context.Context, c client.Client, obj *v1alpha1.ConnectivityService) error {
	if len(obj.Finalizers) == 0 {
		return nil
	}
	patch := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`))
	return client.IgnoreNotFound(c.Patch(ctx, obj, patch))
}

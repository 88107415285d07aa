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

// creators is how many goroutines create the objects.
const creators = 8

// accountPollInterval is how often the account is checked for Ready.
const accountPollInterval = 250 * time.Millisecond

// newService is the i-th benchmark object: an http service on 10.0.x.y through the tunnel.
func newService(ns string, acct *benchAccount, i int) *v1alpha1.ConnectivityService {
	return &v1alpha1.ConnectivityService{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("svc-%04d", i), Namespace: ns},
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

// createServices creates n objects at once, from a few goroutines.
func createServices(ctx context.Context, env *benchEnv, ns string, acct *benchAccount, n int) error {
	err := parallel(n, func(i int) error { return env.k8s.Create(ctx, newService(ns, acct, i)) })
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

// waitAllReady polls until all n objects of the namespace are Ready at their generation, and
// returns when it saw that.
func waitAllReady(ctx context.Context, env *benchEnv, ns string, n int, deadline time.Time, poll time.Duration,
	mgr *managerProc) (time.Time, error) {
	for {
		var list v1alpha1.ConnectivityServiceList
		if err := env.k8s.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return time.Time{}, err
		}
		now := time.Now()
		ready, waiting := readiness(list.Items)
		if ready == n {
			return now, nil
		}
		if now.After(deadline) {
			return time.Time{}, fmt.Errorf("only %d of %d objects Ready by the timeout; not Ready by reason: %s",
				ready, n, waiting)
		}
		if err := sleepWhileRunning(ctx, poll, mgr); err != nil {
			return time.Time{}, err
		}
	}
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

// cleanup removes a finished scenario's objects and account, with the manager stopped, so later
// managers neither cache nor reconcile them. The finalizers are dropped first: nothing is to be
// deleted in the fake, whose account is never used again.
func cleanup(ctx context.Context, env *benchEnv, ns string, acct *benchAccount) error {
	var list v1alpha1.ConnectivityServiceList
	if err := env.k8s.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return err
	}
	if err := parallel(len(list.Items), func(i int) error {
		return dropFinalizers(ctx, env.k8s, &list.Items[i])
	}); err != nil {
		return err
	}
	err := env.k8s.DeleteAllOf(ctx, &v1alpha1.ConnectivityService{}, client.InNamespace(ns))
	return errors.Join(err, env.removeAccount(ctx, acct))
}

// dropFinalizers removes every finalizer of the object.
func dropFinalizers(ctx context.Context, c client.Client, obj *v1alpha1.ConnectivityService) error {
	if len(obj.Finalizers) == 0 {
		return nil
	}
	patch := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`))
	return client.IgnoreNotFound(c.Patch(ctx, obj, patch))
}

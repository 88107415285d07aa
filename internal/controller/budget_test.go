package controller_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	"github.com/workersvpc/connectivity-operator/internal/cloudflare/cloudflaretest"
)

var _ = Describe("Living within the Cloudflare API budget", func() {
	var ctx context.Context
	BeforeEach(func() { ctx = context.Background() })

	It("creates 200 objects under a test-scale budget with no 429, and reports it in the metrics", func() {
		// The fake allows 60 calls per 10 s per token; the account's budget of 1,200 per 5 minutes
		// (4/s) with a burst of 10 keeps every 10 s window at 50 calls at most.
		const budget, window = 60, 10 * time.Second
		api.SetBudget(budget, window, 30*time.Second)
		DeferCleanup(func() { api.SetBudget(0, 0, 0) })
		t := newTenant(ctx, func(a *v1alpha1.CloudflareAccount) {
			a.Spec.RateLimit = &v1alpha1.RateLimit{RequestsPer5m: ptr.To[int32](1200), Burst: ptr.To[int32](10)}
		})
		objs := createServices(ctx, t, 200)
		DeferCleanup(deleteOrphaned, ctx, objs)
		expectAllReady(ctx, t, len(objs), 150*time.Second)

		calls := requestsOf(t.accountID)
		for i, r := range calls {
			Expect(r.Status).NotTo(Equal(http.StatusTooManyRequests), "call %d was rate limited: %+v", i, r)
			inWindow := 0
			for _, later := range calls[i:] {
				if later.Time.Sub(r.Time) < window {
					inWindow++
				}
			}
			Expect(inWindow).To(BeNumerically("<=", budget), "calls in the %s after %s", window, r.Time)
		}
		Expect(t.count(cloudflaretest.RouteCreate)).To(Equal(200), "exactly one create per object")
		Expect(t.remote()).To(HaveLen(200))

		By("scraping the manager's metrics endpoint")
		body := scrapeMetrics()
		Expect(body).To(ContainSubstring(fmt.Sprintf(
			`connectivity_operator_cloudflare_api_requests_total{account="%s",code="200",method="POST",route="create"} 200`, t.accountID)))
		Expect(body).To(MatchRegexp(`connectivity_operator_cloudflare_api_request_duration_seconds_count\{account="%s",route="create"\} 200`, t.accountID))
		Expect(body).To(MatchRegexp(`connectivity_operator_cloudflare_ratelimit_wait_seconds_count\{account="%s"\} \d+`, t.accountID))
		// The account's 429 counter exists from its first call (so alerts see the first 429), at 0.
		Expect(body).To(ContainSubstring(fmt.Sprintf("connectivity_operator_cloudflare_api_rate_limited_total{account=%q} 0\n", t.accountID)))
		Expect(body).To(MatchRegexp(`connectivity_operator_services\{condition="Ready"\} \d{3}`))
		Expect(body).To(ContainSubstring("connectivity_operator_cloudflare_circuit_breakers_open"))
		Expect(body).NotTo(ContainSubstring(t.token))
	})

	It("holds every call of a token for Retry-After after a 429 while other tokens go on", func() {
		limited, other := newTenant(ctx), newTenant(ctx)
		api.FailNext(cloudflaretest.RouteCreate, 1, cloudflaretest.Fault{Status: http.StatusTooManyRequests, RetryAfter: 3 * time.Second,
			Message: "Please wait and consider throttling your request speed"})
		first := limited.service("first")
		Expect(k8s.Create(ctx, first)).To(Succeed())
		got := expectCondition(ctx, first, v1alpha1.ConditionReconciling, "True", v1alpha1.ReasonRateLimited)
		Expect(meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReconciling).Message).To(ContainSubstring("resume by themselves"), "no resume time: the message is the same for every retry")
		var tripped time.Time
		for _, r := range requestsOf(limited.accountID) {
			if r.Status == http.StatusTooManyRequests {
				tripped = r.Time
			}
		}
		Expect(tripped).NotTo(BeZero())

		By("creating more objects of both tokens while the circuit is open")
		second := limited.service("second")
		Expect(k8s.Create(ctx, second)).To(Succeed())
		others := createServices(ctx, other, 3)
		expectAllReady(ctx, other, len(others), 30*time.Second)
		for _, r := range requestsOf(other.accountID) {
			if r.Route == cloudflaretest.RouteCreate {
				Expect(r.Time.Before(tripped.Add(3*time.Second))).To(BeTrue(), "the other token was not held")
			}
		}

		expectReady(ctx, first)
		expectReady(ctx, second)
		for _, r := range requestsOf(limited.accountID) {
			if r.Time.After(tripped) {
				Expect(r.Time.Sub(tripped)).To(BeNumerically(">=", 3*time.Second), "call %+v went out while the circuit was open", r)
			}
		}
		Expect(limited.remote()).To(HaveLen(2))
	})

	It("observes 300 objects with one list per interval and corrects one change with one PUT", func() {
		t := newTenant(ctx)
		objs := createServices(ctx, t, 300)
		DeferCleanup(deleteOrphaned, ctx, objs)
		expectAllReady(ctx, t, len(objs), 90*time.Second)

		By("letting the creates settle, then watching three resync intervals")
		time.Sleep(2 * resyncInterval)
		api.ResetRequests()
		time.Sleep(3*resyncInterval + resyncInterval/2)
		steady := requestsOf(t.accountID)
		lists := make([]time.Time, 0, len(steady))
		for _, r := range steady {
			Expect(r.Route).To(Equal(cloudflaretest.RouteList), "only list calls in steady state, got %+v", r)
			lists = append(lists, r.Time)
		}
		Expect(len(lists)).To(BeNumerically(">=", 3))
		for i := 1; i < len(lists); i++ {
			gap := lists[i].Sub(lists[i-1])
			Expect(gap).To(BeNumerically(">=", resyncInterval), "two list passes within one interval")
			Expect(gap).To(BeNumerically("<=", resyncInterval*3/2), "an interval without a list pass")
		}

		By("changing one service out of band")
		changed := t.remote()[137]
		api.Modify(t.accountID, changed.ID, func(s *cloudflaretest.Service) { s.Host.IPv4 = "10.1.1.1" })
		Eventually(func() string {
			s, _ := api.Service(t.accountID, changed.ID)
			return s.Host.IPv4
		}, 3*resyncInterval, 100*time.Millisecond).Should(Equal("10.0.0.5"))
		time.Sleep(resyncInterval + resyncInterval/2)
		Expect(t.count(cloudflaretest.RouteUpdate)).To(Equal(1))
		Expect(t.count(cloudflaretest.RouteGet)).To(BeZero())
		Expect(t.count(cloudflaretest.RouteCreate)).To(BeZero())
	})
})

// createServices applies n services of the tenant at once.
func createServices(ctx context.Context, t *tenant, n int) []*v1alpha1.ConnectivityService {
	objs := make([]*v1alpha1.ConnectivityService, 0, n)
	for i := range n {
		obj := t.service(fmt.Sprintf("svc-%03d", i))
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		objs = append(objs, obj)
	}
	return objs
}

// expectAllReady waits until n services of the tenant are Ready for their generation.
func expectAllReady(ctx context.Context, t *tenant, n int, timeout time.Duration) {
	Eventually(func(g Gomega) {
		var list v1alpha1.ConnectivityServiceList
		g.Expect(k8s.List(ctx, &list, client.InNamespace(t.ns))).To(Succeed())
		ready := 0
		for _, s := range list.Items {
			if conditionStatus(s.Status.Conditions, v1alpha1.ConditionReady) == "True" && s.Status.ObservedGeneration == s.Generation {
				ready++
			}
		}
		g.Expect(ready).To(Equal(n))
	}, timeout, 500*time.Millisecond).Should(Succeed())
}

// deleteOrphaned removes a spec's objects without deleting their services, so later specs do
// not pay for them.
func deleteOrphaned(ctx context.Context, objs []*v1alpha1.ConnectivityService) {
	for _, obj := range objs {
		updateSpec(ctx, obj, func(o *v1alpha1.ConnectivityService) { o.Spec.DeletionPolicy = v1alpha1.DeletionPolicyOrphan })
		Expect(client.IgnoreNotFound(k8s.Delete(ctx, obj))).To(Succeed())
	}
	for _, obj := range objs {
		expectGone(ctx, obj)
	}
}

// scrapeMetrics reads the manager's metrics endpoint.
func scrapeMetrics() string {
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = resp.Body.Close() }()
	Expect(resp.StatusCode).To(Equal(http.StatusOK))
	body, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	return string(body)
}

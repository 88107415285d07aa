package controller_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	"github.com/workersvpc/connectivity-operator/internal/cloudflare"
	"github.com/workersvpc/connectivity-operator/internal/cloudflare/cloudflaretest"
)

var _ = Describe("Steady under faults", func() {
	var ctx context.Context
	BeforeEach(func() { ctx = context.Background() })

	expectAccount := func(t *tenant, status, reason string) *v1alpha1.CloudflareAccount {
		var acct v1alpha1.CloudflareAccount
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: t.ns, Name: "cf"}, &acct)).To(Succeed())
			c := meta.FindStatusCondition(acct.Status.Conditions, v1alpha1.ConditionReady)
			g.Expect(c).NotTo(BeNil())
			g.Expect(string(c.Status)).To(Equal(status))
			g.Expect(c.Reason).To(Equal(reason))
		}, 20*time.Second, 100*time.Millisecond).Should(Succeed())
		return &acct
	}

	It("works with a token that has a trailing newline, as kubectl create secret --from-file leaves", func() {
		t := newTenant(ctx)
		t.writeSecret(ctx, t.token+"\n")
		obj := t.service("web")
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		expectReady(ctx, obj)
		expectAccount(t, "True", v1alpha1.ReasonVerified)
	})

	It("makes an account with an unusable credential CredentialsInvalid, and says what is wrong without the value", func() {
		t := newTenant(ctx)
		obj := t.service("web")
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		expectReady(ctx, obj)

		broken := t.token + "\n" + t.token
		t.writeSecret(ctx, broken)
		acct := expectAccount(t, "False", v1alpha1.ReasonCredentialsInvalid)
		msg := meta.FindStatusCondition(acct.Status.Conditions, v1alpha1.ConditionReady).Message
		Expect(msg).To(ContainSubstring("line break"))
		Expect(msg).NotTo(ContainSubstring(t.token))
		Expect(meta.FindStatusCondition(acct.Status.Conditions, v1alpha1.ConditionStalled)).NotTo(BeNil())

		By("a change that needs the API waits on the account instead of failing without a condition")
		updateSpec(ctx, obj, func(o *v1alpha1.ConnectivityService) { o.Spec.Host.IPv4 = "10.0.0.6" })
		expectCondition(ctx, obj, v1alpha1.ConditionReconciling, "True", v1alpha1.ReasonAccountNotReady)
		t.writeSecret(ctx, t.token)
		expectReady(ctx, obj)
	})

	It("writes status a couple of times and emits one Warning event while the API fails for a while", func() {
		t := newTenant(ctx)
		api.FailNext(cloudflaretest.RouteCreate, 1000, cloudflaretest.Fault{Status: 502})
		DeferCleanup(api.ClearFaults)
		obj := t.service("web")
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		expectCondition(ctx, obj, v1alpha1.ConditionReconciling, "True", v1alpha1.ReasonAPIError)
		writes := countStatusWrites(ctx, obj)

		By("failing every create for a while: the workqueue retries, with the same cause each time")
		Eventually(func() int { return t.count(cloudflaretest.RouteCreate) }, 30*time.Second, 100*time.Millisecond).
			Should(BeNumerically(">=", 5))
		Expect(writes()).To(BeNumerically("<=", 1), "retries of one cause rewrote status")
		Expect(warnings(ctx, t.ns, v1alpha1.ReasonAPIError)).To(Equal(1))
		got := get(ctx, Default, obj)
		Expect(meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady).Message).NotTo(ContainSubstring("cf-ray"))

		api.ClearFaults()
		expectReady(ctx, obj)
		Expect(t.remote()).To(HaveLen(1))
	})

	It("keeps Ready objects Ready when the periodic list fails", func() {
		t := newTenant(ctx)
		obj := t.service("web")
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		ready := expectReady(ctx, obj)
		transition := meta.FindStatusCondition(ready.Status.Conditions, v1alpha1.ConditionReady).LastTransitionTime

		api.FailNext(cloudflaretest.RouteList, 1000, cloudflaretest.Fault{Status: 500})
		DeferCleanup(api.ClearFaults)
		Eventually(func() int { return t.count(cloudflaretest.RouteList) }, 4*resyncInterval, 100*time.Millisecond).Should(BeNumerically(">=", 2))
		Consistently(func(g Gomega) {
			got := get(ctx, g, obj)
			c := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady)
			g.Expect(string(c.Status)).To(Equal("True"))
			g.Expect(c.LastTransitionTime).To(Equal(transition))
			g.Expect(meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReconciling)).To(BeNil())
		}, 3*resyncInterval, 200*time.Millisecond).Should(Succeed())
		Expect(t.count(cloudflaretest.RouteCreate)).To(Equal(1))
		Expect(t.count(cloudflaretest.RouteGet)).To(BeZero(), "a failed list is not replaced by a GET per object")
	})

	It("keeps a verified account and its services Ready when a re-verification is rate limited", func() {
		t := newTenant(ctx)
		obj := t.service("web")
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		expectReady(ctx, obj)

		By("opening the token's circuit, as after a 429 another client of the token caused")
		limits.For(cloudflare.Credentials{APIToken: t.token}.Fingerprint(), "test", 0, 0).Trip(time.Now().Add(5 * time.Second))
		By("changing the Secret, which verifies the account again")
		secret := &corev1.Secret{ObjectMeta: secretMeta(t)}
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(secret), secret)).To(Succeed())
		secret.Labels = map[string]string{"rotated": "yes"}
		Expect(k8s.Update(ctx, secret)).To(Succeed())
		Eventually(func() string { return logs.String() }, 20*time.Second, 100*time.Millisecond).Should(
			MatchRegexp(`Could not verify Cloudflare credentials[^\n]*"namespace": "%s"`, t.ns))
		Consistently(func(g Gomega) {
			var acct v1alpha1.CloudflareAccount
			g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: t.ns, Name: "cf"}, &acct)).To(Succeed())
			g.Expect(conditionStatus(acct.Status.Conditions, v1alpha1.ConditionReady)).To(Equal("True"))
			g.Expect(conditionStatus(get(ctx, g, obj).Status.Conditions, v1alpha1.ConditionReady)).To(Equal("True"))
		}, 4*time.Second, 100*time.Millisecond).Should(Succeed())
	})

	It("does not let one account's spent budget delay another account's objects", func() {
		slow := newTenant(ctx, func(a *v1alpha1.CloudflareAccount) {
			// Room for the account's verification (two calls) and one more; then a call every 30 s.
			a.Spec.RateLimit = &v1alpha1.RateLimit{RequestsPer5m: new(int32(10)), Burst: new(int32(3))}
		})
		for i := range 8 {
			Expect(k8s.Create(ctx, slow.service(fmt.Sprintf("slow-%d", i)))).To(Succeed())
		}
		Eventually(func(g Gomega) {
			var list v1alpha1.ConnectivityServiceList
			g.Expect(k8s.List(ctx, &list, client.InNamespace(slow.ns))).To(Succeed())
			waiting := 0
			for _, o := range list.Items {
				if c := meta.FindStatusCondition(o.Status.Conditions, v1alpha1.ConditionReconciling); c != nil && c.Reason == v1alpha1.ReasonRateLimited {
					waiting++
				}
			}
			g.Expect(waiting).To(BeNumerically(">=", 4), "more objects wait for the budget than there are workers")
		}, 20*time.Second, 100*time.Millisecond).Should(Succeed())

		fast := newTenant(ctx)
		obj := fast.service("fast")
		start := time.Now()
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		expectReady(ctx, obj)
		Expect(time.Since(start)).To(BeNumerically("<", 5*time.Second), "the other account's objects were held up")
	})
})

// warnings counts the Warning events of one reason in a namespace.
func warnings(ctx context.Context, ns, reason string) int {
	var list eventsv1.EventList
	Expect(k8s.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
	n := 0
	for _, e := range list.Items {
		if e.Type == "Warning" && e.Reason == reason {
			n++
		}
	}
	return n
}

// countStatusWrites watches obj and returns what tells how many times its status changed since.
// (Each create attempt also writes its intent to metadata, on purpose: see the create path.)
func countStatusWrites(ctx context.Context, obj *v1alpha1.ConnectivityService) func() int {
	wc, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	w, err := wc.Watch(ctx, &v1alpha1.ConnectivityServiceList{}, client.InNamespace(obj.Namespace),
		client.MatchingFields{"metadata.name": obj.Name}, &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: get(ctx, Default, obj).ResourceVersion}})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(w.Stop)
	var n atomic.Int64
	last := mustJSON(get(ctx, Default, obj).Status)
	go func() {
		for ev := range w.ResultChan() {
			if o, ok := ev.Object.(*v1alpha1.ConnectivityService); ok && ev.Type == watch.Modified {
				if status, err := json.Marshal(o.Status); err == nil && string(status) != last {
					last = string(status)
					n.Add(1)
				}
			}
		}
	}()
	return func() int { return int(n.Load()) }
}

package controller_test

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	"github.com/workersvpc/connectivity-operator/internal/cloudflare/cloudflaretest"
)

var _ = Describe("ConnectivityService when things go wrong", func() {
	var (
		ctx context.Context
		t   *tenant
	)
	BeforeEach(func() {
		ctx = context.Background()
		t = newTenant(ctx)
	})

	It("keeps one remote service when the status write after the create fails", func() {
		obj := t.service("status-fails")
		failStatusPatch.Store(obj.Name)
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		got := expectReady(ctx, obj)
		Expect(failStatusPatch.Load()).To(Equal(""), "the injected failure happened")
		Expect(t.count(cloudflaretest.RouteCreate)).To(Equal(1))
		Expect(t.remote()).To(HaveLen(1))
		Expect(got.Status.ServiceID).To(Equal(t.remote()[0].ID))
	})

	It("claims the service when the create commits but answers 500", func() {
		api.FailNext(cloudflaretest.RouteCreate, 1, cloudflaretest.Fault{Status: 500, Commit: true})
		obj := t.service("commit-500")
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		got := expectReady(ctx, obj)
		Expect(t.remote()).To(HaveLen(1))
		Expect(got.Status.ServiceID).To(Equal(t.remote()[0].ID))
		Expect(t.count(cloudflaretest.RouteCreate)).To(Equal(1), "the unknown outcome is resolved by name, not by creating again")
	})

	It("claims the service when the create commits and hangs past the client timeout", func() {
		api.FailNext(cloudflaretest.RouteCreate, 1, cloudflaretest.Fault{Status: 200, Commit: true, Hang: 3 * apiTimeout})
		obj := t.service("commit-hang")
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		got := expectReady(ctx, obj)
		Expect(t.remote()).To(HaveLen(1))
		Expect(got.Status.ServiceID).To(Equal(t.remote()[0].ID))
	})

	It("keeps one remote service when the manager stops right after a create committed", func() {
		api.FailNext(cloudflaretest.RouteCreate, 1, cloudflaretest.Fault{Status: 200, Commit: true, Hang: time.Minute})
		obj := t.service("crash")
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		Eventually(func() []cloudflaretest.Service { return t.remote() }, 20*time.Second, 50*time.Millisecond).Should(HaveLen(1))

		By("stopping the manager while the create is still in flight, and starting a new one")
		stopManager()
		Expect(get(ctx, Default, obj).Status.ServiceID).To(BeEmpty())
		Expect(get(ctx, Default, obj).Annotations).To(HaveKey(v1alpha1.AnnotationCreateIntent))
		startManager()

		got := expectReady(ctx, obj)
		Expect(t.remote()).To(HaveLen(1))
		Expect(got.Status.ServiceID).To(Equal(t.remote()[0].ID))
		Expect(t.count(cloudflaretest.RouteCreate)).To(Equal(1))
	})

	It("becomes Ready once a missing Secret is created, without a restart", func() {
		Expect(k8s.Delete(ctx, &corev1.Secret{ObjectMeta: secretMeta(t)})).To(Succeed())
		obj := t.service("late-secret")
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		Eventually(func(g Gomega) {
			c := meta.FindStatusCondition(get(ctx, g, obj).Status.Conditions, v1alpha1.ConditionReady)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Reason).To(BeElementOf(v1alpha1.ReasonCredentialsNotFound, v1alpha1.ReasonAccountNotReady))
			g.Expect(c.Message).To(ContainSubstring("cf-token"))
		}, 20*time.Second, 100*time.Millisecond).Should(Succeed())
		Expect(t.count(cloudflaretest.RouteCreate)).To(BeZero())

		t.writeSecret(ctx, t.token)
		expectReady(ctx, obj)
		Expect(t.count(cloudflaretest.RouteCreate)).To(Equal(1))
	})

	It("deletes its service even when the Secret was deleted just before", func() {
		obj := t.service("secret-first")
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		expectReady(ctx, obj)
		Expect(k8s.Delete(ctx, &corev1.Secret{ObjectMeta: secretMeta(t)})).To(Succeed())
		Expect(k8s.Delete(ctx, obj)).To(Succeed())
		expectGone(ctx, obj)
		Expect(t.remote()).To(BeEmpty())
		Expect(t.count(cloudflaretest.RouteDelete)).To(Equal(1))
	})

	It("says why it cannot delete without credentials, and lets go with deletionPolicy Orphan", func() {
		obj := t.service("no-credentials")
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		expectReady(ctx, obj)

		By("losing the Secret while no manager remembers it")
		stopManager()
		Expect(k8s.Delete(ctx, &corev1.Secret{ObjectMeta: secretMeta(t)})).To(Succeed())
		startManager()
		Expect(k8s.Delete(ctx, obj)).To(Succeed())
		got := expectCondition(ctx, obj, v1alpha1.ConditionStalled, "True", v1alpha1.ReasonCredentialsNotFound)
		Expect(meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionStalled).Message).To(And(
			ContainSubstring("restore it"), ContainSubstring("deletionPolicy: Orphan")))
		Expect(t.count(cloudflaretest.RouteDelete)).To(BeZero())

		updateSpec(ctx, obj, func(o *v1alpha1.ConnectivityService) { o.Spec.DeletionPolicy = v1alpha1.DeletionPolicyOrphan })
		expectGone(ctx, obj)
		Expect(t.remote()).To(HaveLen(1), "Orphan leaves the service in Cloudflare")
		Expect(t.count(cloudflaretest.RouteDelete)).To(BeZero())
	})

	It("uses a rotated token from the next call on", func() {
		obj := t.service("rotate")
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		expectReady(ctx, obj)

		newToken := "tok-" + randHex(12)
		api.AddCredential(cloudflaretest.Credential{Token: newToken, Accounts: []string{t.accountID}})
		t.writeSecret(ctx, newToken)
		time.Sleep(time.Second) // let calls already in flight with the old token finish
		api.RemoveCredential(t.token)
		api.ResetRequests()

		updateSpec(ctx, obj, func(o *v1alpha1.ConnectivityService) { o.Spec.Host.IPv4 = "10.0.0.7" })
		Eventually(func(g Gomega) {
			svc := t.remote()
			g.Expect(svc).To(HaveLen(1))
			g.Expect(svc[0].Host.IPv4).To(Equal("10.0.0.7"))
		}, 20*time.Second, 100*time.Millisecond).Should(Succeed())
		for _, r := range requestsOf(t.accountID) {
			Expect(r.Status).NotTo(Equal(401), "no call went out with the revoked token: %+v", r)
		}
	})

	It("reports rejected credentials as CredentialsInvalid and keeps calls bounded", func() {
		obj := t.service("bad-token")
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		expectReady(ctx, obj)

		api.RemoveCredential(t.token)
		updateSpec(ctx, obj, func(o *v1alpha1.ConnectivityService) { o.Spec.Host.IPv4 = "10.0.0.8" })
		expectCondition(ctx, obj, v1alpha1.ConditionStalled, "True", v1alpha1.ReasonCredentialsInvalid)
		calls := len(requestsOf(t.accountID))
		Consistently(func() int { return len(requestsOf(t.accountID)) }, 3*resyncInterval, 200*time.Millisecond).
			Should(BeNumerically("<=", calls+1))
	})

	It("reports a token without the Workers VPC permission as PermissionDenied", func() {
		obj := t.service("no-permission")
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		expectReady(ctx, obj)

		api.FailNext(cloudflaretest.RouteUpdate, 100, cloudflaretest.Fault{Status: 403, Code: 10196, Message: "not authorized for the requested VPC resource"})
		DeferCleanup(api.ClearFaults)
		updateSpec(ctx, obj, func(o *v1alpha1.ConnectivityService) { o.Spec.Host.IPv4 = "10.0.0.9" })
		expectCondition(ctx, obj, v1alpha1.ConditionStalled, "True", v1alpha1.ReasonPermissionDenied)
		calls := t.count(cloudflaretest.RouteUpdate)
		Consistently(func() int { return t.count(cloudflaretest.RouteUpdate) }, 3*resyncInterval, 200*time.Millisecond).Should(Equal(calls))
	})

	It("stalls on an unknown tunnel and does not retry until the spec changes", func() {
		obj := t.service("bad-tunnel")
		obj.Spec.Host.Network.TunnelID = "11111111-2222-3333-4444-555555555555"
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		got := expectCondition(ctx, obj, v1alpha1.ConditionStalled, "True", v1alpha1.ReasonTunnelNotFound)
		Expect(got.Status.ObservedGeneration).To(Equal(got.Generation))
		Consistently(func() int { return t.count(cloudflaretest.RouteCreate) }, 3*resyncInterval, 200*time.Millisecond).Should(Equal(1))
		expectEvent(ctx, t.ns, v1alpha1.ReasonTunnelNotFound)

		updateSpec(ctx, obj, func(o *v1alpha1.ConnectivityService) { o.Spec.Host.Network.TunnelID = tunnelID })
		expectReady(ctx, obj)
		Expect(t.count(cloudflaretest.RouteCreate)).To(Equal(2))
		Expect(t.remote()).To(HaveLen(1))
	})

	It("waits for Retry-After after a 429 and then converges", func() {
		api.FailNext(cloudflaretest.RouteCreate, 1, cloudflaretest.Fault{Status: 429, RetryAfter: 3 * time.Second,
			Message: "Please wait and consider throttling your request speed"})
		obj := t.service("throttled")
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		expectCondition(ctx, obj, v1alpha1.ConditionReconciling, "True", v1alpha1.ReasonRateLimited)
		expectReady(ctx, obj)

		var limited time.Time
		for _, r := range requestsOf(t.accountID) {
			if r.Status == 429 {
				limited = r.Time
			} else if !limited.IsZero() {
				Expect(r.Time.Sub(limited)).To(BeNumerically(">=", 3*time.Second), "call %+v went out before Retry-After", r)
			}
		}
		Expect(limited).NotTo(BeZero())
		Expect(t.remote()).To(HaveLen(1))
	})

	It("never shows a token in logs, events, status or metrics", func() {
		sentinel := "SENTINEL-" + randHex(16)
		api.AddCredential(cloudflaretest.Credential{Token: sentinel, Accounts: []string{t.accountID}})
		t.writeSecret(ctx, sentinel)
		obj := t.service("sentinel")
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		expectReady(ctx, obj)

		By("making the sentinel fail, so it travels through the error paths too")
		api.RemoveCredential(sentinel)
		updateSpec(ctx, obj, func(o *v1alpha1.ConnectivityService) { o.Spec.Host.IPv4 = "10.0.0.10" })
		expectCondition(ctx, obj, v1alpha1.ConditionStalled, "True", v1alpha1.ReasonCredentialsInvalid)

		Expect(logs.String()).To(ContainSubstring("CredentialsInvalid"), "the logs were captured")
		Expect(logs.String()).NotTo(ContainSubstring(sentinel))

		var evs eventsv1.EventList
		Expect(k8s.List(ctx, &evs, client.InNamespace(t.ns))).To(Succeed())
		Expect(evs.Items).NotTo(BeEmpty())
		Expect(mustJSON(evs)).NotTo(ContainSubstring(sentinel))

		var svcs v1alpha1.ConnectivityServiceList
		Expect(k8s.List(ctx, &svcs, client.InNamespace(t.ns))).To(Succeed())
		Expect(mustJSON(svcs)).NotTo(ContainSubstring(sentinel))
		var accts v1alpha1.CloudflareAccountList
		Expect(k8s.List(ctx, &accts, client.InNamespace(t.ns))).To(Succeed())
		Expect(mustJSON(accts)).NotTo(ContainSubstring(sentinel))

		families, err := metrics.Registry.Gather()
		Expect(err).NotTo(HaveOccurred())
		Expect(families).NotTo(BeEmpty())
		Expect(mustJSON(families)).NotTo(ContainSubstring(sentinel))
		for _, r := range api.Requests() {
			Expect(strings.Contains(mustJSON(r), sentinel)).To(BeFalse())
		}
	})
})

func secretMeta(t *tenant) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: t.ns, Name: "cf-token"}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	Expect(err).NotTo(HaveOccurred())
	return string(b)
}

package controller_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	"github.com/workersvpc/connectivity-operator/internal/cloudflare/cloudflaretest"
)

var _ = Describe("ConnectivityService management controls", func() {
	var (
		ctx context.Context
		t   *tenant
	)
	BeforeEach(func() {
		ctx = context.Background()
		t = newTenant(ctx)
	})

	// writes counts the calls that change Cloudflare.
	writes := func() int {
		return t.count(cloudflaretest.RouteCreate) + t.count(cloudflaretest.RouteUpdate) + t.count(cloudflaretest.RouteDelete)
	}

	It("makes no call while suspended, and converges at once when resumed", func() {
		obj := t.service("paused")
		obj.Spec.Suspend = true
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		got := expectCondition(ctx, obj, "Suspended", "True", v1alpha1.ReasonSuspended)
		Expect(got.Status.ServiceID).To(BeEmpty())
		calls := func() int { return writes() + t.count(cloudflaretest.RouteList) + t.count(cloudflaretest.RouteGet) }
		before := calls() // the account's verification
		Consistently(calls, 3*time.Second, 200*time.Millisecond).Should(Equal(before))

		updateSpec(ctx, obj, func(o *v1alpha1.ConnectivityService) { o.Spec.Suspend = false })
		got = expectReady(ctx, obj)
		Expect(meta.FindStatusCondition(got.Status.Conditions, "Suspended")).To(BeNil())
		Expect(t.count(cloudflaretest.RouteCreate)).To(Equal(1))

		By("suspending a Ready service: drift stays until it resumes")
		updateSpec(ctx, obj, func(o *v1alpha1.ConnectivityService) { o.Spec.Suspend = true })
		expectCondition(ctx, obj, "Suspended", "True", v1alpha1.ReasonSuspended)
		api.Modify(t.accountID, got.Status.ServiceID, func(s *cloudflaretest.Service) { s.HTTPPort = new(int32(9999)) })
		before = writes()
		Consistently(writes, 3*time.Second, 200*time.Millisecond).Should(Equal(before))
		updateSpec(ctx, obj, func(o *v1alpha1.ConnectivityService) { o.Spec.Suspend = false })
		Eventually(func() *int32 {
			svc, _ := api.Service(t.accountID, got.Status.ServiceID)
			return svc.HTTPPort
		}, 20*time.Second, 200*time.Millisecond).Should(BeNil(), "the drift is undone after resuming")
	})

	It("handles a reconcile request exactly once, reading Cloudflare directly, and echoes it", func() {
		obj := t.service("poked")
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		got := expectReady(ctx, obj)
		gets := t.count(cloudflaretest.RouteGet)
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(obj), got)).To(Succeed())
		got.Annotations = map[string]string{v1alpha1.AnnotationReconcileRequestedAt: "2026-12-02T10:00:00Z"}
		Expect(k8s.Update(ctx, got)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(get(ctx, g, obj).Status.LastHandledReconcileAt).To(Equal("2026-12-02T10:00:00Z"))
		}, 20*time.Second, 100*time.Millisecond).Should(Succeed())
		Expect(t.count(cloudflaretest.RouteGet)).To(Equal(gets+1), "one pass, one GET that bypasses the shared list")
		Consistently(func() int { return t.count(cloudflaretest.RouteGet) }, 2*time.Second, 200*time.Millisecond).Should(Equal(gets + 1))
	})

	It("observes without ever writing, mirrors drift, makes no call on delete, and takes over on Manage", func() {
		seeded := api.Seed(t.accountID, cloudflaretest.Service{Name: "legacy", Type: "http",
			Host: cloudflaretest.Host{IPv4: "10.0.0.5", Network: &cloudflaretest.Network{TunnelID: tunnelID}}})
		obj := t.service("legacy")
		obj.Spec.ManagementPolicy = v1alpha1.ManagementPolicyObserve
		obj.Spec.HTTPPort = new(int32(8080)) // differs from Cloudflare's
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		got := expectCondition(ctx, obj, v1alpha1.ConditionReady, "True", v1alpha1.ReasonObserved)
		Expect(got.Status.ServiceID).To(Equal(seeded.ID))
		Expect(got.Status.Host).NotTo(BeNil())
		Expect(got.Status.Host.IPv4).To(Equal("10.0.0.5"))
		Expect(got.Status.Host.HTTPPort).To(BeNil(), "status shows Cloudflare's service, not the spec")
		Expect(meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady).Message).To(ContainSubstring("differs from the spec"))

		api.Modify(t.accountID, seeded.ID, func(s *cloudflaretest.Service) { s.Host.IPv4 = "10.0.0.99" })
		Eventually(func(g Gomega) {
			g.Expect(get(ctx, g, obj).Status.Host.IPv4).To(Equal("10.0.0.99"))
		}, 30*time.Second, 200*time.Millisecond).Should(Succeed(), "drift is mirrored at the next resync")
		Expect(writes()).To(BeZero())

		By("switching to Manage: the service is another's until adopted")
		updateSpec(ctx, obj, func(o *v1alpha1.ConnectivityService) { o.Spec.ManagementPolicy = v1alpha1.ManagementPolicyManage })
		expectCondition(ctx, obj, v1alpha1.ConditionStalled, "True", v1alpha1.ReasonNameConflict)
		Expect(writes()).To(BeZero())
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(obj), got)).To(Succeed())
		got.Annotations = map[string]string{v1alpha1.AnnotationAdopt: "true"}
		Expect(k8s.Update(ctx, got)).To(Succeed())
		got = expectReady(ctx, obj)
		Expect(got.Status.ServiceID).To(Equal(seeded.ID))
		svc, _ := api.Service(t.accountID, seeded.ID)
		Expect(svc.HTTPPort).To(HaveValue(Equal(int32(8080))), "managed now: converged to the spec")
		Expect(t.count(cloudflaretest.RouteCreate)).To(BeZero())
	})

	It("deletes an observed object without any call", func() {
		seeded := api.Seed(t.accountID, cloudflaretest.Service{Name: "watched", Type: "http",
			Host: cloudflaretest.Host{IPv4: "10.0.0.5", Network: &cloudflaretest.Network{TunnelID: tunnelID}}})
		obj := t.service("watched")
		obj.Spec.ManagementPolicy = v1alpha1.ManagementPolicyObserve
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		expectCondition(ctx, obj, v1alpha1.ConditionReady, "True", v1alpha1.ReasonObserved)
		Expect(k8s.Delete(ctx, obj)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(obj), &v1alpha1.ConnectivityService{}))
		}, 20*time.Second, 200*time.Millisecond).Should(BeTrue())
		_, ok := api.Service(t.accountID, seeded.ID)
		Expect(ok).To(BeTrue())
		Expect(writes()).To(BeZero())
	})
})

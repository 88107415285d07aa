package controller_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	"github.com/workersvpc/connectivity-operator/internal/cloudflare/cloudflaretest"
)

var _ = Describe("ConnectivityService lifecycle", func() {
	var (
		ctx context.Context
		t   *tenant
	)
	BeforeEach(func() {
		ctx = context.Background()
		t = newTenant(ctx)
	})

	It("creates the service once and records its id and creation time", func() {
		obj := t.service("web")
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		got := expectReady(ctx, obj)

		Expect(t.count(cloudflaretest.RouteCreate)).To(Equal(1))
		remote := t.remote()
		Expect(remote).To(HaveLen(1))
		Expect(remote[0].Name).To(Equal("web"), "spec.name defaults to metadata.name")
		Expect(remote[0].Host.IPv4).To(Equal("10.0.0.5"))
		Expect(got.Status.ServiceID).To(Equal(remote[0].ID))
		Expect(got.Status.CreatedAt.Time).To(BeTemporally("~", remote[0].CreatedAt, time.Second))
		Expect(got.Status.AccountID).To(Equal(t.accountID))
		Expect(meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady).Reason).To(BeElementOf(v1alpha1.ReasonCreated, v1alpha1.ReasonSynced))
		expectEvent(ctx, t.ns, v1alpha1.ReasonCreated)
		Expect(got.Annotations).NotTo(HaveKey(v1alpha1.AnnotationCreateIntent))
		Expect(got.Finalizers).To(ContainElement(v1alpha1.Finalizer))
	})

	It("verifies a new account once, however many events reach it", func() {
		other := newTenant(ctx)
		// Counted by the tenant's token: other specs' accounts verify at the same time.
		Consistently(func() int { return api.CountWith(other.token, cloudflaretest.RouteVerify) }, 2*time.Second, 100*time.Millisecond).
			Should(Equal(1), "the account's creation and its Secret's first watch event share one verification")
	})

	It("updates with one PUT on a spec change, keeps createdAt, and makes no PUT on a no-op resync", func() {
		obj := t.service("web")
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		created := expectReady(ctx, obj)

		By("waiting through two resyncs with nothing to do")
		time.Sleep(2*resyncInterval + 500*time.Millisecond)
		Expect(t.count(cloudflaretest.RouteUpdate)).To(BeZero())
		Expect(t.count(cloudflaretest.RouteGet)).To(BeZero(), "observation goes through the account's list, not per-object GETs")

		By("changing the spec")
		updateSpec(ctx, obj, func(o *v1alpha1.ConnectivityService) {
			o.Spec.Host.IPv4 = "10.0.0.6"
			o.Spec.HTTPSPort = ptr.To[int32](8443)
		})
		Eventually(func(g Gomega) {
			got := get(ctx, g, obj)
			g.Expect(got.Status.ObservedGeneration).To(Equal(int64(2)))
			g.Expect(conditionStatus(got.Status.Conditions, v1alpha1.ConditionReady)).To(Equal("True"))
		}, 20*time.Second, 100*time.Millisecond).Should(Succeed())
		Expect(t.count(cloudflaretest.RouteUpdate)).To(Equal(1))
		remote := t.remote()
		Expect(remote).To(HaveLen(1))
		Expect(remote[0].Host.IPv4).To(Equal("10.0.0.6"))
		Expect(remote[0].HTTPSPort).To(Equal(ptr.To[int32](8443)))

		got := expectReady(ctx, obj)
		Expect(got.Status.CreatedAt.Time).To(Equal(created.Status.CreatedAt.Time), "PUT resets created_at remotely; status keeps the original")
		Expect(t.count(cloudflaretest.RouteCreate)).To(Equal(1))
	})

	It("corrects an out-of-band change with one PUT and an event", func() {
		obj := t.service("web")
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		got := expectReady(ctx, obj)

		Expect(api.Modify(t.accountID, got.Status.ServiceID, func(s *cloudflaretest.Service) { s.Host.IPv4 = "10.9.9.9" })).To(BeTrue())
		Eventually(func(g Gomega) {
			svc, ok := api.Service(t.accountID, got.Status.ServiceID)
			g.Expect(ok).To(BeTrue())
			g.Expect(svc.Host.IPv4).To(Equal("10.0.0.5"))
		}, 20*time.Second, 100*time.Millisecond).Should(Succeed())
		Expect(t.count(cloudflaretest.RouteUpdate)).To(Equal(1))
		expectEvent(ctx, t.ns, "DriftCorrected")
	})

	It("creates the service again when it was deleted out of band", func() {
		obj := t.service("web")
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		first := expectReady(ctx, obj)

		Expect(api.Remove(t.accountID, first.Status.ServiceID)).To(BeTrue())
		Eventually(func(g Gomega) {
			got := get(ctx, g, obj)
			g.Expect(got.Status.ServiceID).NotTo(BeEmpty())
			g.Expect(got.Status.ServiceID).NotTo(Equal(first.Status.ServiceID))
			g.Expect(conditionStatus(got.Status.Conditions, v1alpha1.ConditionReady)).To(Equal("True"))
		}, 20*time.Second, 100*time.Millisecond).Should(Succeed())
		Expect(t.remote()).To(HaveLen(1))
		Expect(t.count(cloudflaretest.RouteCreate)).To(Equal(2))
		expectEvent(ctx, t.ns, "Recreating")
	})

	It("never touches a pre-existing service of the same name and does not hot-loop", func() {
		existing := api.Seed(t.accountID, cloudflaretest.Service{
			Name: "web", Type: "http",
			Host: cloudflaretest.Host{IPv4: "192.168.1.1", Network: &cloudflaretest.Network{TunnelID: tunnelID}},
		})
		obj := t.service("web")
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		got := expectCondition(ctx, obj, v1alpha1.ConditionStalled, "True", v1alpha1.ReasonNameConflict)
		Expect(meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady).Message).To(ContainSubstring(existing.ID))
		Expect(conditionStatus(got.Status.Conditions, v1alpha1.ConditionReady)).To(Equal("False"))

		By("re-evaluating the stall from the account's shared list only: at most one list per resync interval")
		calls, lists := len(requestsOf(t.accountID)), t.count(cloudflaretest.RouteList)
		time.Sleep(3 * resyncInterval)
		Expect(len(requestsOf(t.accountID))-calls).To(Equal(t.count(cloudflaretest.RouteList)-lists), "only list calls")
		Expect(t.count(cloudflaretest.RouteList) - lists).To(BeNumerically("<=", 3))
		Expect(t.count(cloudflaretest.RouteCreate)).To(BeZero())
		Expect(t.count(cloudflaretest.RouteUpdate)).To(BeZero())
		svc, _ := api.Service(t.accountID, existing.ID)
		Expect(svc.Host.IPv4).To(Equal("192.168.1.1"))
		expectEvent(ctx, t.ns, v1alpha1.ReasonNameConflict)
	})

	It("adopts a pre-existing service when annotated, with one PUT and no POST", func() {
		existing := api.Seed(t.accountID, cloudflaretest.Service{
			Name: "web", Type: "http",
			Host: cloudflaretest.Host{IPv4: "192.168.1.1", Network: &cloudflaretest.Network{TunnelID: tunnelID}},
		})
		obj := t.service("web")
		obj.Annotations = map[string]string{v1alpha1.AnnotationAdopt: "true"}
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		got := expectReady(ctx, obj)
		Expect(got.Status.ServiceID).To(Equal(existing.ID))
		Expect(meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady).Reason).To(Equal(v1alpha1.ReasonAdopted))
		Expect(t.count(cloudflaretest.RouteCreate)).To(BeZero())
		Expect(t.count(cloudflaretest.RouteUpdate)).To(Equal(1))
		svc, _ := api.Service(t.accountID, existing.ID)
		Expect(svc.Host.IPv4).To(Equal("10.0.0.5"))
		expectEvent(ctx, t.ns, v1alpha1.ReasonAdopted)
	})

	It("imports a service by id", func() {
		existing := api.Seed(t.accountID, cloudflaretest.Service{
			Name: "legacy-name", Type: "http",
			Host: cloudflaretest.Host{IPv4: "10.0.0.5", Network: &cloudflaretest.Network{TunnelID: tunnelID}},
		})
		obj := t.service("web")
		obj.Spec.Name = "legacy-name"
		obj.Annotations = map[string]string{v1alpha1.AnnotationServiceID: existing.ID}
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		got := expectReady(ctx, obj)
		Expect(got.Status.ServiceID).To(Equal(existing.ID))
		Expect(t.count(cloudflaretest.RouteCreate)).To(BeZero())
		Expect(t.count(cloudflaretest.RouteUpdate)).To(BeZero(), "the imported service already matches the spec")
		Expect(t.remote()).To(HaveLen(1))
	})

	It("gives the second of two objects that want one name a NameConflict and leaves the first alone", func() {
		first := t.service("web")
		Expect(k8s.Create(ctx, first)).To(Succeed())
		firstReady := expectReady(ctx, first)

		other := newTenantNamespace(ctx, t)
		second := t.service("web")
		second.Namespace = other
		second.Spec.AccountRef = &v1alpha1.AccountReference{Kind: v1alpha1.AccountKindNamespaced, Name: "cf"}
		Expect(k8s.Create(ctx, second)).To(Succeed())
		expectCondition(ctx, second, v1alpha1.ConditionStalled, "True", v1alpha1.ReasonNameConflict)

		Expect(t.count(cloudflaretest.RouteCreate)).To(Equal(1))
		Expect(t.remote()).To(HaveLen(1))
		again := expectReady(ctx, first)
		Expect(again.Status.ServiceID).To(Equal(firstReady.Status.ServiceID))
	})

	It("deletes the remote service and then releases the object", func() {
		obj := t.service("web")
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		expectReady(ctx, obj)
		Expect(k8s.Delete(ctx, obj)).To(Succeed())
		expectGone(ctx, obj)
		Expect(t.remote()).To(BeEmpty())
		Expect(t.count(cloudflaretest.RouteDelete)).To(Equal(1))
	})

	It("keeps an account that services still use until they are deleted", func() {
		obj := t.service("web")
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		expectReady(ctx, obj)

		acct := &v1alpha1.CloudflareAccount{ObjectMeta: metav1.ObjectMeta{Namespace: t.ns, Name: "cf"}}
		Expect(k8s.Delete(ctx, acct)).To(Succeed())
		Eventually(func(g Gomega) {
			var got v1alpha1.CloudflareAccount
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(acct), &got)).To(Succeed())
			g.Expect(got.DeletionTimestamp).NotTo(BeNil())
			c := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReconciling)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Reason).To(Equal(v1alpha1.ReasonDeleting))
			g.Expect(c.Message).To(ContainSubstring(t.ns + "/web"))
		}, 20*time.Second, 100*time.Millisecond).Should(Succeed())

		Expect(k8s.Delete(ctx, obj)).To(Succeed())
		expectGone(ctx, obj)
		expectGone(ctx, acct)
		Expect(t.remote()).To(BeEmpty(), "the service could still reach Cloudflare to delete its service")
		Expect(t.count(cloudflaretest.RouteDelete)).To(Equal(1))
	})

	It("treats a 404 on delete as done", func() {
		obj := t.service("web")
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		got := expectReady(ctx, obj)
		Expect(api.Remove(t.accountID, got.Status.ServiceID)).To(BeTrue())
		Expect(k8s.Delete(ctx, obj)).To(Succeed())
		expectGone(ctx, obj)
		Expect(t.count(cloudflaretest.RouteDelete)).To(Equal(1))
		Expect(t.count(cloudflaretest.RouteCreate)).To(Equal(1))
	})

	It("leaves the remote service in place with deletionPolicy Orphan", func() {
		obj := t.service("web")
		obj.Spec.DeletionPolicy = v1alpha1.DeletionPolicyOrphan
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		expectReady(ctx, obj)
		Expect(k8s.Delete(ctx, obj)).To(Succeed())
		expectGone(ctx, obj)
		Expect(t.count(cloudflaretest.RouteDelete)).To(BeZero())
		Expect(t.remote()).To(HaveLen(1))
	})

	It("releases an object that never got a service without any API call", func() {
		obj := t.service("web")
		obj.Spec.AccountRef = &v1alpha1.AccountReference{Kind: v1alpha1.AccountKindNamespaced, Name: "missing"}
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		expectCondition(ctx, obj, v1alpha1.ConditionReady, "False", v1alpha1.ReasonAccountNotReady)
		before := len(requestsOf(t.accountID))
		Expect(k8s.Delete(ctx, obj)).To(Succeed())
		expectGone(ctx, obj)
		Expect(requestsOf(t.accountID)).To(HaveLen(before))
	})

	It("does not let a service use a CloudflareAccount of another namespace", func() {
		other := newTenantNamespace(ctx, nil)
		obj := t.service("web")
		obj.Namespace = other
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		got := expectCondition(ctx, obj, v1alpha1.ConditionReady, "False", v1alpha1.ReasonAccountNotReady)
		Expect(meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady).Message).To(ContainSubstring(other + "/cf"))
		Consistently(func() int { return t.count(cloudflaretest.RouteCreate) }, 2*time.Second, 200*time.Millisecond).Should(BeZero())
		Expect(t.remote()).To(BeEmpty())
	})
})

// expectGone waits until the object is deleted.
func expectGone(ctx context.Context, obj client.Object) {
	Eventually(func() bool {
		err := k8s.Get(ctx, client.ObjectKeyFromObject(obj), obj.DeepCopyObject().(client.Object))
		return apierrors.IsNotFound(err)
	}, 30*time.Second, 100*time.Millisecond).Should(BeTrue())
}

// requestsOf returns the fake's log of one account's calls.
func requestsOf(accountID string) []cloudflaretest.Request {
	var out []cloudflaretest.Request
	for _, r := range api.Requests() {
		if r.AccountID == accountID {
			out = append(out, r)
		}
	}
	return out
}

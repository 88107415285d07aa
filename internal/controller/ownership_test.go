package controller_test

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	"github.com/workersvpc/connectivity-operator/internal/cloudflare/cloudflaretest"
	"github.com/workersvpc/connectivity-operator/internal/ownership"
)

var _ = Describe("Ownership of Cloudflare services", func() {
	var (
		ctx context.Context
		t   *tenant
	)
	BeforeEach(func() {
		ctx = context.Background()
		t = newTenant(ctx)
	})

	// twin returns an object of the same name in another namespace on the same Cloudflare account.
	twin := func(name string) *v1alpha1.ConnectivityService {
		obj := t.service(name)
		obj.Namespace = newTenantNamespace(ctx, t)
		return obj
	}

	It("never deletes the winner's service when the loser of a name race is deleted", func() {
		api.FailNext(cloudflaretest.RouteCreate, 1, cloudflaretest.Fault{Status: 502})
		a, b := t.service("web"), twin("web")
		Expect(k8s.Create(ctx, a)).To(Succeed())
		Expect(k8s.Create(ctx, b)).To(Succeed())

		By("one object gets the name, through the failed create; the other stalls on a NameConflict")
		var winner, loser *v1alpha1.ConnectivityService
		Eventually(func(g Gomega) {
			ga, gb := get(ctx, g, a), get(ctx, g, b)
			winner, loser = ga, gb
			if conditionStatus(gb.Status.Conditions, v1alpha1.ConditionReady) == "True" {
				winner, loser = gb, ga
			}
			g.Expect(conditionStatus(winner.Status.Conditions, v1alpha1.ConditionReady)).To(Equal("True"))
			c := meta.FindStatusCondition(loser.Status.Conditions, v1alpha1.ConditionStalled)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Reason).To(Equal(v1alpha1.ReasonNameConflict))
			g.Expect(c.Message).To(ContainSubstring(winner.Namespace + "/web"))
		}, 30*time.Second, 100*time.Millisecond).Should(Succeed())
		Expect(t.count(cloudflaretest.RouteCreate)).To(Equal(2), "the failed create and its retry, both by the winner")
		Expect(loser.Annotations).NotTo(HaveKey(v1alpha1.AnnotationCreateIntent), "the loser never got as far as an intent")

		By("deleting the loser")
		Expect(k8s.Delete(ctx, loser)).To(Succeed())
		expectGone(ctx, loser)
		Consistently(func() int { return t.count(cloudflaretest.RouteDelete) }, resyncInterval, 100*time.Millisecond).Should(BeZero())
		Expect(t.remote()).To(HaveLen(1))
		Expect(t.remote()[0].ID).To(Equal(winner.Status.ServiceID))
		Expect(expectReady(ctx, winner).Status.ServiceID).To(Equal(winner.Status.ServiceID))
	})

	It("never claims nor changes a foreign service that appears while a create's outcome is unknown", func() {
		api.FailNext(cloudflaretest.RouteCreate, 1, cloudflaretest.Fault{Status: 500, Hang: 3 * apiTimeout})
		obj := t.service("web")
		Expect(k8s.Create(ctx, obj)).To(Succeed())

		By("another tool creating a service of the same name while the create hangs")
		Eventually(func() int { return t.count(cloudflaretest.RouteCreate) }, 20*time.Second, 20*time.Millisecond).Should(Equal(1))
		foreign := api.Seed(t.accountID, cloudflaretest.Service{
			Name: "web", Type: "http",
			Host: cloudflaretest.Host{IPv4: "192.168.1.1", Network: &cloudflaretest.Network{TunnelID: tunnelID}},
		})

		got := expectCondition(ctx, obj, v1alpha1.ConditionStalled, "True", v1alpha1.ReasonOwnershipUnknown)
		msg := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionStalled).Message
		Expect(msg).To(And(ContainSubstring(foreign.ID), ContainSubstring(v1alpha1.AnnotationAdopt), ContainSubstring("spec.name")))
		Expect(got.Status.ServiceID).To(BeEmpty())
		Expect(got.Annotations).To(HaveKey(v1alpha1.AnnotationCreateIntent), "the outcome is still unknown")

		Consistently(func(g Gomega) {
			g.Expect(get(ctx, g, obj).Status.ServiceID).To(BeEmpty())
		}, 2*resyncInterval, 200*time.Millisecond).Should(Succeed())
		Expect(t.count(cloudflaretest.RouteUpdate)).To(BeZero())
		Expect(t.count(cloudflaretest.RouteCreate)).To(Equal(1))
		svc, ok := api.Service(t.accountID, foreign.ID)
		Expect(ok).To(BeTrue())
		Expect(svc.Host.IPv4).To(Equal("192.168.1.1"))

		By("deleting the object: an intent alone never leads to a delete")
		Expect(k8s.Delete(ctx, obj)).To(Succeed())
		expectGone(ctx, obj)
		Expect(t.count(cloudflaretest.RouteDelete)).To(BeZero())
		Expect(t.remote()).To(HaveLen(1))
		expectEvent(ctx, t.ns, v1alpha1.ReasonOwnershipUnknown)
	})

	// unknownOwnership leaves obj stalled on OwnershipUnknown: its create hangs past the client's
	// timeout without committing while another tool creates a service of the same name.
	unknownOwnership := func(obj *v1alpha1.ConnectivityService) cloudflaretest.Service {
		api.FailNext(cloudflaretest.RouteCreate, 1, cloudflaretest.Fault{Status: 500, Hang: 3 * apiTimeout})
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		Eventually(func() int { return t.count(cloudflaretest.RouteCreate) }, 20*time.Second, 20*time.Millisecond).Should(Equal(1))
		foreign := api.Seed(t.accountID, cloudflaretest.Service{
			Name: obj.Name, Type: "http",
			Host: cloudflaretest.Host{IPv4: "192.168.1.1", Network: &cloudflaretest.Network{TunnelID: tunnelID}},
		})
		expectCondition(ctx, obj, v1alpha1.ConditionStalled, "True", v1alpha1.ReasonOwnershipUnknown)
		return foreign
	}

	It("takes the way out of OwnershipUnknown a person chooses: another spec.name", func() {
		obj := t.service("web")
		foreign := unknownOwnership(obj)
		updateSpec(ctx, obj, func(o *v1alpha1.ConnectivityService) { o.Spec.Name = "web-2" })
		got := expectReady(ctx, obj)
		Expect(got.Status.ServiceID).NotTo(Equal(foreign.ID))
		Expect(got.Annotations).NotTo(HaveKey(v1alpha1.AnnotationCreateIntent))
		Expect(t.remote()).To(HaveLen(2))
		svc, _ := api.Service(t.accountID, foreign.ID)
		Expect(svc.Host.IPv4).To(Equal("192.168.1.1"), "the unproven service is left alone")
		expectNoLease(ctx, ownership.Key{Kind: "service", AccountID: t.accountID, Name: "web"})
	})

	It("takes the way out of OwnershipUnknown a person chooses: adopt", func() {
		obj := t.service("web")
		foreign := unknownOwnership(obj)
		Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			latest := get(ctx, Default, obj)
			latest.Annotations[v1alpha1.AnnotationAdopt] = "true"
			return k8s.Update(ctx, latest)
		})).To(Succeed())
		got := expectReady(ctx, obj)
		Expect(got.Status.ServiceID).To(Equal(foreign.ID))
		Expect(t.remote()).To(HaveLen(1))
		Expect(t.count(cloudflaretest.RouteUpdate)).To(Equal(1), "adopted, then converged to the spec")
	})

	It("keeps a retry's intent after a definite refusal and claims the first attempt's late commit", func() {
		api.FailNext(cloudflaretest.RouteCreate, 1, cloudflaretest.Fault{Status: 503})
		api.FailNext(cloudflaretest.RouteCreate, 1, cloudflaretest.Fault{Status: 429, RetryAfter: 2 * time.Second,
			Message: "Please wait and consider throttling your request speed"})
		obj := t.service("web")
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		expectCondition(ctx, obj, v1alpha1.ConditionReconciling, "True", v1alpha1.ReasonRateLimited)
		Expect(get(ctx, Default, obj).Annotations).To(HaveKey(v1alpha1.AnnotationCreateIntent))

		By("the first attempt committing late, with the body it sent")
		late := api.Seed(t.accountID, cloudflaretest.Service{
			Name: "web", Type: "http",
			Host: cloudflaretest.Host{IPv4: "10.0.0.5", Network: &cloudflaretest.Network{TunnelID: tunnelID}},
		})
		got := expectReady(ctx, obj)
		Expect(got.Status.ServiceID).To(Equal(late.ID))
		Expect(meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionReady).Reason).To(Equal(v1alpha1.ReasonCreated))
		Expect(t.remote()).To(HaveLen(1))
		Expect(t.count(cloudflaretest.RouteUpdate)).To(BeZero())
	})

	It("lets only one of two objects claim one service, whatever their names", func() {
		existing := api.Seed(t.accountID, cloudflaretest.Service{
			Name: "legacy", Type: "http",
			Host: cloudflaretest.Host{IPv4: "10.0.0.5", Network: &cloudflaretest.Network{TunnelID: tunnelID}},
		})
		a, b := t.service("a"), twin("b")
		for _, obj := range []*v1alpha1.ConnectivityService{a, b} {
			obj.Annotations = map[string]string{v1alpha1.AnnotationServiceID: existing.ID}
			Expect(k8s.Create(ctx, obj)).To(Succeed())
		}
		Eventually(func(g Gomega) {
			ready, stalled := 0, 0
			for _, obj := range []*v1alpha1.ConnectivityService{a, b} {
				got := get(ctx, g, obj)
				if conditionStatus(got.Status.Conditions, v1alpha1.ConditionReady) == "True" {
					ready++
					g.Expect(got.Status.ServiceID).To(Equal(existing.ID))
				}
				if c := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionStalled); c != nil && c.Reason == v1alpha1.ReasonNameConflict {
					stalled++
				}
			}
			g.Expect([]int{ready, stalled}).To(Equal([]int{1, 1}))
		}, 30*time.Second, 100*time.Millisecond).Should(Succeed())
		Consistently(func() int { return t.count(cloudflaretest.RouteUpdate) }, 2*resyncInterval, 200*time.Millisecond).
			Should(Equal(1), "one rename, by the one owner; no PUT war")
		Expect(t.count(cloudflaretest.RouteCreate)).To(BeZero())
	})

	It("comes back Ready with the same id and no POST when its status is wiped", func() {
		obj := t.service("web")
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		first := expectReady(ctx, obj)
		Expect(first.Annotations).To(HaveKeyWithValue(v1alpha1.AnnotationServiceID, first.Status.ServiceID))

		Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			latest := get(ctx, Default, obj)
			latest.Status = v1alpha1.ConnectivityServiceStatus{ObservedGeneration: -1}
			return k8s.Status().Update(ctx, latest)
		})).To(Succeed())
		Eventually(func(g Gomega) {
			got := get(ctx, g, obj)
			g.Expect(got.Status.ServiceID).To(Equal(t.remote()[0].ID))
			g.Expect(conditionStatus(got.Status.Conditions, v1alpha1.ConditionReady)).To(Equal("True"))
		}, 3*resyncInterval+10*time.Second, 100*time.Millisecond).Should(Succeed())
		Expect(t.count(cloudflaretest.RouteCreate)).To(Equal(1))
		Expect(t.remote()).To(HaveLen(1))
	})

	It("is Ready with the same id and no POST when re-created from its manifest and annotations after a restore", func() {
		obj := t.service("web")
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		first := expectReady(ctx, obj)
		backup := &v1alpha1.ConnectivityService{
			ObjectMeta: metav1.ObjectMeta{Namespace: first.Namespace, Name: first.Name, Annotations: first.Annotations},
			Spec:       first.Spec,
		}

		By("losing the object with no manager to see it go, and restoring it without status (a new UID)")
		stopManager()
		Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			latest := get(ctx, Default, obj)
			latest.Finalizers = nil
			return k8s.Update(ctx, latest)
		})).To(Succeed())
		Expect(k8s.Delete(ctx, first)).To(Succeed())
		expectGone(ctx, first)
		Expect(k8s.Create(ctx, backup)).To(Succeed())
		Expect(backup.UID).NotTo(Equal(first.UID))
		startManager()

		got := expectReady(ctx, backup)
		Expect(got.Status.ServiceID).To(Equal(first.Status.ServiceID))
		Expect(t.count(cloudflaretest.RouteCreate)).To(Equal(1))
		Expect(t.remote()).To(HaveLen(1))
		By("the restored object holding the reservations of its name and id")
		for _, key := range []ownership.Key{
			{Kind: "service", AccountID: t.accountID, Name: "web"},
			{Kind: "serviceid", AccountID: t.accountID, Name: first.Status.ServiceID},
		} {
			var lease coordinationv1.Lease
			Expect(k8s.Get(ctx, client.ObjectKey{Namespace: clusterNamespace, Name: key.LeaseName()}, &lease)).To(Succeed())
			Expect(lease.Labels).To(HaveKeyWithValue(ownership.LabelHolderUID, string(got.UID)))
		}

		By("deleting it, which deletes the service and gives the reservations up")
		Expect(k8s.Delete(ctx, got)).To(Succeed())
		expectGone(ctx, got)
		Expect(t.remote()).To(BeEmpty())
		var leases coordinationv1.LeaseList
		Expect(k8s.List(ctx, &leases, client.InNamespace(clusterNamespace),
			client.MatchingLabels{ownership.LabelHolderUID: string(got.UID)})).To(Succeed())
		Expect(leases.Items).To(BeEmpty())
	})

	It("clears a NameConflict by itself when the other service goes", func() {
		foreign := api.Seed(t.accountID, cloudflaretest.Service{
			Name: "web", Type: "http",
			Host: cloudflaretest.Host{IPv4: "192.168.1.1", Network: &cloudflaretest.Network{TunnelID: tunnelID}},
		})
		obj := t.service("web")
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		expectCondition(ctx, obj, v1alpha1.ConditionStalled, "True", v1alpha1.ReasonNameConflict)

		Expect(api.Remove(t.accountID, foreign.ID)).To(BeTrue())
		got := expectReady(ctx, obj)
		Expect(meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionStalled)).To(BeNil())
		Expect(t.count(cloudflaretest.RouteCreate)).To(Equal(1))
		Expect(t.remote()).To(HaveLen(1))
	})

	It("clears a NameConflict by itself when the other object goes", func() {
		first := t.service("web")
		Expect(k8s.Create(ctx, first)).To(Succeed())
		firstReady := expectReady(ctx, first)
		second := twin("web")
		Expect(k8s.Create(ctx, second)).To(Succeed())
		got := expectCondition(ctx, second, v1alpha1.ConditionStalled, "True", v1alpha1.ReasonNameConflict)
		Expect(meta.FindStatusCondition(got.Status.Conditions, v1alpha1.ConditionStalled).Message).To(ContainSubstring(first.Namespace + "/web"))

		By("deleting the first object, as a GitOps move prunes the old one")
		Expect(k8s.Delete(ctx, first)).To(Succeed())
		expectGone(ctx, first)
		secondReady := expectReady(ctx, second)
		Expect(secondReady.Status.ServiceID).NotTo(Equal(firstReady.Status.ServiceID))
		Expect(t.remote()).To(HaveLen(1))
		Expect(t.count(cloudflaretest.RouteDelete)).To(Equal(1))
	})
})

var _ = Describe("A refused rename", func() {
	It("waits on the shared list instead of a PUT every resync, and renames once the name is free", func() {
		ctx := context.Background()
		t := newTenant(ctx)
		obj := t.service("web")
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		first := expectReady(ctx, obj)
		taken := api.Seed(t.accountID, cloudflaretest.Service{
			Name: "api", Type: "http",
			Host: cloudflaretest.Host{IPv4: "192.168.1.1", Network: &cloudflaretest.Network{TunnelID: tunnelID}},
		})

		updateSpec(ctx, obj, func(o *v1alpha1.ConnectivityService) { o.Spec.Name = "api" })
		expectCondition(ctx, obj, v1alpha1.ConditionStalled, "True", v1alpha1.ReasonNameConflict)
		Consistently(func() int { return t.count(cloudflaretest.RouteUpdate) }, 3*resyncInterval, 200*time.Millisecond).Should(Equal(1))

		Expect(api.Remove(t.accountID, taken.ID)).To(BeTrue())
		Eventually(func(g Gomega) {
			svc, ok := api.Service(t.accountID, first.Status.ServiceID)
			g.Expect(ok).To(BeTrue())
			g.Expect(svc.Name).To(Equal("api"))
		}, 4*resyncInterval+5*time.Second, 100*time.Millisecond).Should(Succeed())
		got := expectReady(ctx, obj)
		Expect(got.Status.ServiceID).To(Equal(first.Status.ServiceID))
		Expect(t.count(cloudflaretest.RouteUpdate)).To(Equal(2))
		expectNoLease(ctx, ownership.Key{Kind: "service", AccountID: t.accountID, Name: "web"})
	})
})

// expectNoLease fails when a reservation Lease of key exists: a name given up is free for others.
func expectNoLease(ctx context.Context, key ownership.Key) {
	var lease coordinationv1.Lease
	err := k8s.Get(ctx, client.ObjectKey{Namespace: clusterNamespace, Name: key.LeaseName()}, &lease)
	Expect(apierrors.IsNotFound(err)).To(BeTrue(), "lease %s: %v", key.LeaseName(), err)
}

var _ = Describe("Two managers at once", func() {
	It("keep exactly one service per object when both reconcile every object", func() {
		ctx := context.Background()
		t := newTenant(ctx)
		stop, done := runManager("0")
		DeferCleanup(func() {
			stop()
			Eventually(done, 30*time.Second).Should(BeClosed())
			// The metrics read the objects through the last manager registered: the suite's own.
			stopManager()
			startManager()
		})

		const n = 20
		objs := make([]*v1alpha1.ConnectivityService, n)
		for i := range objs {
			objs[i] = t.service(fmt.Sprintf("svc-%02d", i))
			Expect(k8s.Create(ctx, objs[i])).To(Succeed())
		}
		ids := map[string]bool{}
		for _, obj := range objs {
			ids[expectReady(ctx, obj).Status.ServiceID] = true
		}
		Expect(ids).To(HaveLen(n))
		Consistently(func() []cloudflaretest.Service { return t.remote() }, resyncInterval, 200*time.Millisecond).Should(HaveLen(n))
		for _, svc := range t.remote() {
			Expect(ids).To(HaveKey(svc.ID))
		}
	})
})

package gitops_test

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	v1alpha1 "github.com/workersvpc/connectivity-operator/api/v1alpha1"
	"github.com/workersvpc/connectivity-operator/internal/conditions"
	testenv "github.com/workersvpc/connectivity-operator/internal/testutil/envtest"
)

const (
	accountID     = "023e105f4ecef8ad9ca31a8372d0c353"
	tunnelID      = "0191dce4-9ab4-7fce-b660-8e5dec5172da"
	secretMissing = `Secret cloudflare-credentials of the account does not exist: ` +
		`create it with the API token under key "apiToken"`
)

// conditioned is every kind of the operator: an object with kstatus conditions.
type conditioned interface {
	client.Object
	GetConditions() []metav1.Condition
	SetConditions([]metav1.Condition)
}

// The status writers are the operator's own (internal/conditions): the tests check what the
// operator really writes.

// lifecycle is one kind with the operator's reasons and messages for it.
type lifecycle struct {
	newObject func(namespace string) conditioned
	// observedGeneration points at the kind's status.observedGeneration.
	observedGeneration func(obj conditioned) *int64
	// changeSpec makes a spec change, which bumps metadata.generation.
	changeSpec                func(obj conditioned)
	waitReason, waitMessage   string // the first reconcile, before the object can be Ready
	readyReason, readyMessage string
	stallReason, stallMessage string
	// deletes: the kind has the operator's finalizer, so deleting it leaves it Terminating.
	deletes bool
	// deleteWaitReason and deleteWaitMessage: Reconciling while the deletion is under way.
	deleteWaitReason, deleteWaitMessage string
	// deleteBlockedMessage: Stalled with CredentialsNotFound, when the deletion cannot go on.
	deleteBlockedMessage string
}

var serviceLifecycle = lifecycle{
	newObject: func(namespace string) conditioned {
		return &v1alpha1.ConnectivityService{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: namespace, Finalizers: []string{v1alpha1.Finalizer}},
			Spec: v1alpha1.ConnectivityServiceSpec{
				Type:     v1alpha1.ServiceTypeHTTP,
				Host:     v1alpha1.ServiceHost{IPv4: "10.0.0.5", Network: &v1alpha1.Network{TunnelID: tunnelID}},
				HTTPPort: ptr.To[int32](8080),
			},
		}
	},
	observedGeneration: func(obj conditioned) *int64 {
		return &obj.(*v1alpha1.ConnectivityService).Status.ObservedGeneration
	},
	changeSpec: func(obj conditioned) {
		obj.(*v1alpha1.ConnectivityService).Spec.HTTPPort = ptr.To[int32](8081)
	},
	waitReason: v1alpha1.ReasonAccountNotReady,
	waitMessage: "ClusterCloudflareAccount/default does not exist: create it, or point spec.accountRef " +
		"at an existing account",
	readyReason:  v1alpha1.ReasonSynced,
	readyMessage: "Cloudflare service 4a5b6c7d-0000-4e8f-9a1b-2c3d4e5f6a7b matches the spec",
	stallReason:  v1alpha1.ReasonNameConflict,
	stallMessage: `a Cloudflare service named "web" already exists in account ` + accountID +
		" (service id 9f8e7d6c-0000-4b5a-8c9d-0e1f2a3b4c5d) and is not managed by this object: choose another " +
		`spec.name, or annotate the object with connectivity.workersvpc.dev/adopt: "true" to adopt it`,
	deletes:           true,
	deleteWaitReason:  v1alpha1.ReasonDeleting,
	deleteWaitMessage: "deleting the Cloudflare service",
	deleteBlockedMessage: "cannot delete the Cloudflare service: the account's Secret does not exist; restore it, " +
		"or set spec.deletionPolicy: Orphan to leave the service in Cloudflare",
}

// tunnelRefServiceLifecycle is a service that names its tunnel with tunnelRef: it first waits for
// the CloudflareTunnel's id (TunnelNotReady).
var tunnelRefServiceLifecycle = func() lifecycle {
	lc := serviceLifecycle
	lc.newObject = func(namespace string) conditioned {
		svc := serviceLifecycle.newObject(namespace).(*v1alpha1.ConnectivityService)
		svc.Name = "web-via-ref"
		svc.Spec.Host.Network = &v1alpha1.Network{TunnelRef: &v1alpha1.TunnelReference{Name: "edge"}}
		return svc
	}
	lc.waitReason = v1alpha1.ReasonTunnelNotReady
	lc.waitMessage = "CloudflareTunnel shop/edge has no tunnel id yet: see its Ready condition"
	return lc
}()

// tunnelLifecycle is a CloudflareTunnel: its connector first has no available pod, then the
// tunnel is Connected; its deletion waits for the services that route through it.
var tunnelLifecycle = lifecycle{
	newObject: func(namespace string) conditioned {
		return &v1alpha1.CloudflareTunnel{
			ObjectMeta: metav1.ObjectMeta{Name: "edge", Namespace: namespace, Finalizers: []string{v1alpha1.Finalizer}},
			Spec: v1alpha1.CloudflareTunnelSpec{
				AccountRef: &v1alpha1.AccountReference{Kind: v1alpha1.AccountKindNamespaced, Name: "team-account"},
				Connector:  v1alpha1.ConnectorSpec{Replicas: ptr.To[int32](2)},
			},
		}
	},
	observedGeneration: func(obj conditioned) *int64 {
		return &obj.(*v1alpha1.CloudflareTunnel).Status.ObservedGeneration
	},
	changeSpec: func(obj conditioned) {
		obj.(*v1alpha1.CloudflareTunnel).Spec.Connector.Replicas = ptr.To[int32](3)
	},
	waitReason: v1alpha1.ReasonConnectorUnavailable,
	waitMessage: "tunnel " + tunnelID + " exists, but its cloudflared Deployment edge-cloudflared has no available " +
		"pod yet: see kubectl describe deployment edge-cloudflared",
	readyReason:  v1alpha1.ReasonConnected,
	readyMessage: "tunnel " + tunnelID + " is healthy and its connector is available",
	stallReason:  v1alpha1.ReasonNameConflict,
	stallMessage: `a Cloudflare tunnel named "k8s_shop_edge" already exists in account ` + accountID +
		" (tunnel id 9f8e7d6c-0000-4b5a-8c9d-0e1f2a3b4c5d) and was not made by this object: choose another " +
		"spec.name, or set spec.tunnelID: 9f8e7d6c-0000-4b5a-8c9d-0e1f2a3b4c5d to adopt it",
	deletes:          true,
	deleteWaitReason: v1alpha1.ReasonTunnelInUse,
	deleteWaitMessage: "waiting for the 1 ConnectivityService(s) that use this tunnel (shop/web-via-ref) " +
		"to be deleted first",
	deleteBlockedMessage: "cannot delete the Cloudflare tunnel: the account's Secret does not exist; restore it, " +
		"or set spec.deletionPolicy: Orphan to leave the tunnel in Cloudflare",
}

var namespacedAccountLifecycle = lifecycle{
	newObject: func(namespace string) conditioned {
		return &v1alpha1.CloudflareAccount{
			ObjectMeta: metav1.ObjectMeta{Name: "team-account", Namespace: namespace},
			Spec: v1alpha1.CloudflareAccountSpec{
				AccountSpec: v1alpha1.AccountSpec{AccountID: accountID},
				SecretRef:   v1alpha1.SecretReference{Name: "cloudflare-credentials"},
			},
		}
	},
	observedGeneration: func(obj conditioned) *int64 {
		return &obj.(*v1alpha1.CloudflareAccount).Status.ObservedGeneration
	},
	changeSpec: func(obj conditioned) {
		obj.(*v1alpha1.CloudflareAccount).Spec.RateLimit = &v1alpha1.RateLimit{RequestsPer5m: ptr.To[int32](600)}
	},
	waitReason:   v1alpha1.ReasonSecretNotFound,
	waitMessage:  secretMissing,
	readyReason:  v1alpha1.ReasonVerified,
	readyMessage: "credentials verified for Cloudflare account " + accountID,
	stallReason:  v1alpha1.ReasonCredentialsInvalid,
	stallMessage: `Cloudflare rejected the credentials: put a valid, active API token under key "apiToken"`,
}

var clusterAccountLifecycle = lifecycle{
	newObject: func(string) conditioned {
		return &v1alpha1.ClusterCloudflareAccount{
			ObjectMeta: metav1.ObjectMeta{Name: "default"},
			Spec: v1alpha1.ClusterCloudflareAccountSpec{
				AccountSpec: v1alpha1.AccountSpec{AccountID: accountID},
				SecretRef: v1alpha1.ClusterSecretReference{
					Name: "cloudflare-credentials", Namespace: "connectivity-operator-system",
				},
			},
		}
	},
	observedGeneration: func(obj conditioned) *int64 {
		return &obj.(*v1alpha1.ClusterCloudflareAccount).Status.ObservedGeneration
	},
	changeSpec: func(obj conditioned) {
		obj.(*v1alpha1.ClusterCloudflareAccount).Spec.SecretRef.Name = "cloudflare-credentials-rotated"
	},
	waitReason:   v1alpha1.ReasonSecretNotFound,
	waitMessage:  secretMissing,
	readyReason:  v1alpha1.ReasonVerified,
	readyMessage: "credentials verified for Cloudflare account " + accountID,
	stallReason:  v1alpha1.ReasonPermissionDenied,
	stallMessage: `the credentials lack the Workers VPC permission: grant "Connectivity Directory Admin"`,
}

// This is what Flux (kustomize-controller's wait and healthChecks) and `kubectl wait` see: kstatus
// over the objects as the API server serves them, with the CRDs' defaulting and the status
// subresource. Each step also runs the Argo CD health check on the same object.
var _ = Describe("kstatus on objects served by the API server", Ordered, func() {
	var (
		k8sClient client.Client
		scheme    *runtime.Scheme
		namespace string
	)

	BeforeAll(func(ctx SpecContext) {
		logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
		testEnv, err := testenv.Start(testenv.Options{})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(testEnv.Stop)
		// A direct client, without a cache: every read is what the API server serves now.
		k8sClient, scheme = testEnv.Client, testEnv.Scheme

		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "gitops-"}}
		Expect(k8sClient.Create(ctx, ns)).To(Succeed())
		namespace = ns.Name
	})

	// assess reads obj back from the API server as unstructured, as GitOps tools do, and returns
	// kstatus's verdict and the Argo CD health check's.
	assess := func(ctx context.Context, obj conditioned) (*kstatus.Result, health, *unstructured.Unstructured) {
		GinkgoHelper()
		gvk, err := apiutil.GVKForObject(obj, scheme)
		Expect(err).NotTo(HaveOccurred())
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(gvk)
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), u)).To(Succeed())
		res, err := kstatus.Compute(u)
		Expect(err).NotTo(HaveOccurred())
		h, err := runHealthScript(healthScript(), u.Object)
		Expect(err).NotTo(HaveOccurred())
		return res, h, u
	}

	expectHealth := func(ctx context.Context, obj conditioned, wantKstatus kstatus.Status, wantArgo, wantMessage string) {
		GinkgoHelper()
		res, h, _ := assess(ctx, obj)
		Expect(res.Status).To(Equal(wantKstatus), "kstatus: %s", res.Message)
		Expect(h.Status).To(Equal(wantArgo), "Argo CD: %s", h.Message)
		if wantMessage != "" {
			Expect(h.Message).To(Equal(wantMessage))
		}
	}

	// writeStatus changes the status in memory and writes the change through the status
	// subresource as a merge patch, as the operator's status patcher does.
	writeStatus := func(ctx context.Context, obj conditioned, change func()) {
		GinkgoHelper()
		before := obj.DeepCopyObject().(client.Object)
		change()
		Expect(k8sClient.Status().Patch(ctx, obj, client.MergeFrom(before))).To(Succeed())
	}

	DescribeTable("reads the operator's conditions as Flux and Argo CD should",
		func(ctx SpecContext, lc lifecycle) {
			obj := lc.newObject(namespace)
			Expect(k8sClient.Create(ctx, obj)).To(Succeed())
			Expect(obj.GetGeneration()).To(Equal(int64(1)))

			By("a new object, before the operator wrote any status")
			res, h, u := assess(ctx, obj)
			observedNew, found, err := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
			Expect(err).NotTo(HaveOccurred())
			Expect(found).To(BeTrue(), "the CRD defaults status to {observedGeneration: -1}")
			Expect(observedNew).To(Equal(int64(-1)))
			Expect(h.Status).To(Equal(progressing))
			// With observedGeneration -1 kstatus knows the operator has not looked yet, so Flux's
			// `wait: true` cannot pass before the first reconcile.
			Expect(res.Status).To(Equal(kstatus.InProgressStatus), res.Message)

			By("the first reconcile waits: Reconciling=True, observedGeneration not written")
			writeStatus(ctx, obj, func() { conditions.MarkReconciling(obj, lc.waitReason, lc.waitMessage) })
			_, _, u = assess(ctx, obj)
			observed, found, err := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
			Expect(err).NotTo(HaveOccurred())
			Expect(found).To(BeTrue(), "the CRD defaults status.observedGeneration")
			Expect(observed).To(Equal(int64(-1)))
			expectHealth(ctx, obj, kstatus.InProgressStatus, progressing, lc.waitMessage)

			By("Ready=True with observedGeneration == generation")
			writeStatus(ctx, obj, func() {
				conditions.MarkReady(obj, lc.readyReason, lc.readyMessage)
				*lc.observedGeneration(obj) = obj.GetGeneration()
			})
			expectHealth(ctx, obj, kstatus.CurrentStatus, healthy, lc.readyMessage)

			By("a spec update bumps the generation, before the operator writes status")
			lc.changeSpec(obj)
			Expect(k8sClient.Update(ctx, obj)).To(Succeed())
			Expect(obj.GetGeneration()).To(Equal(int64(2)))
			expectHealth(ctx, obj, kstatus.InProgressStatus, progressing,
				"Waiting for the operator to observe generation 2 (last observed: 1)")

			By("Ready=True again for the new generation")
			writeStatus(ctx, obj, func() {
				conditions.MarkReady(obj, lc.readyReason, lc.readyMessage)
				*lc.observedGeneration(obj) = obj.GetGeneration()
			})
			expectHealth(ctx, obj, kstatus.CurrentStatus, healthy, lc.readyMessage)

			By("Reconciling=True at the observed generation (a resync hits the rate limit)")
			rateLimited := "the Cloudflare API rate limit is reached; retrying in 1m0s"
			writeStatus(ctx, obj, func() { conditions.MarkReconciling(obj, v1alpha1.ReasonRateLimited, rateLimited) })
			res, _, _ = assess(ctx, obj)
			Expect(res.Message).To(Equal(rateLimited))
			expectHealth(ctx, obj, kstatus.InProgressStatus, progressing, rateLimited)

			By("Stalled=True with a terminal reason, observedGeneration current")
			writeStatus(ctx, obj, func() {
				conditions.MarkStalled(obj, lc.stallReason, lc.stallMessage)
				*lc.observedGeneration(obj) = obj.GetGeneration()
			})
			res, _, _ = assess(ctx, obj)
			Expect(res.Message).To(Equal(lc.stallMessage))
			expectHealth(ctx, obj, kstatus.FailedStatus, degraded, lc.stallMessage)

			if !lc.deletes {
				Expect(k8sClient.Delete(ctx, obj)).To(Succeed())
				return
			}

			By("deleting: the finalizer keeps the object, with a deletionTimestamp")
			Expect(k8sClient.Delete(ctx, obj)).To(Succeed())
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
			Expect(obj.GetDeletionTimestamp()).NotTo(BeNil())
			expectHealth(ctx, obj, kstatus.TerminatingStatus, progressing, "")

			By("Reconciling=True while the deletion is under way")
			writeStatus(ctx, obj, func() { conditions.MarkReconciling(obj, lc.deleteWaitReason, lc.deleteWaitMessage) })
			expectHealth(ctx, obj, kstatus.TerminatingStatus, progressing, lc.deleteWaitMessage)

			By("Stalled=True with CredentialsNotFound while deleting")
			writeStatus(ctx, obj, func() {
				conditions.MarkStalled(obj, v1alpha1.ReasonCredentialsNotFound, lc.deleteBlockedMessage)
				*lc.observedGeneration(obj) = obj.GetGeneration()
			})
			// Argo CD itself shows "Pending deletion" without running the script.
			expectHealth(ctx, obj, kstatus.TerminatingStatus, degraded, lc.deleteBlockedMessage)

			By("releasing the object")
			patch := client.MergeFrom(obj.DeepCopyObject().(client.Object))
			obj.SetFinalizers(nil)
			Expect(k8sClient.Patch(ctx, obj, patch)).To(Succeed())
			err = k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj)
			Expect(apierrors.IsNotFound(err)).To(BeTrue(), "got %v", err)
		},
		Entry("ConnectivityService", serviceLifecycle),
		Entry("ConnectivityService with tunnelRef", tunnelRefServiceLifecycle),
		Entry("CloudflareTunnel", tunnelLifecycle),
		Entry("CloudflareAccount", namespacedAccountLifecycle),
		Entry("ClusterCloudflareAccount", clusterAccountLifecycle),
	)
})

package e2e

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	cffake "github.com/workersvpc/connectivity-operator/internal/cloudflare/cloudflaretest"
)

const (
	// tunnelNamespace holds the tunnel spec's account, tunnel and connector.
	tunnelNamespace = "e2e-tunnel"
	// tunnelAccount is the CloudflareAccount of the tunnel spec, in tunnelNamespace.
	tunnelAccount = "tunnel-account"
	// tunnelObject is the CloudflareTunnel's name; its connector objects are named after it.
	tunnelObject = "edge"
	// tunnelReplicas is the connector's spec.connector.replicas.
	tunnelReplicas = 2
	// managedBy is the app.kubernetes.io/managed-by label of the connector's objects.
	managedBy = "connectivity-operator"
	// connectorName is the name of the connector's Deployment, PodDisruptionBudget and NetworkPolicy.
	connectorName = tunnelObject + "-cloudflared"
	// tokenSecretName is the name of the Secret with the connector token.
	tokenSecretName = tunnelObject + "-cloudflared-token"
)

// There is no kubelet and no kube-controller-manager here: the connector's pods never run and no
// garbage collector deletes owned objects. The spec plays both: it marks the Deployment available
// and sets the tunnel healthy in the fake, as a running cloudflared would make Cloudflare report.
var _ = Describe("a CloudflareTunnel, run by the manager as its manifests' ServiceAccount", Ordered, func() {
	var tunnelID string

	BeforeAll(func(ctx SpecContext) {
		By("creating namespace " + tunnelNamespace + ", its Secret and CloudflareAccount " + tunnelAccount)
		Expect(createNamespace(ctx, tunnelNamespace)).To(Succeed())
		Expect(createTokenSecret(ctx, tunnelNamespace, credentialsSecret, teamToken)).To(Succeed())
		_, err := kubectlWithInput(ctx, tunnelAccountManifest(), "apply", "-f", "-")
		Expect(err).NotTo(HaveOccurred())
		_, err = kubectl(ctx, "wait", "--for=condition=Ready", "-n", tunnelNamespace,
			"cloudflareaccount/"+tunnelAccount, "--timeout=60s")
		Expect(err).NotTo(HaveOccurred())
	}, NodeTimeout(2*time.Minute))

	AfterAll(func() {
		expectNoRBACDenials()
	})

	It("creates the tunnel in Cloudflare once and writes its connector", func(ctx SpecContext) {
		mark, err := api.mark()
		Expect(err).NotTo(HaveOccurred())
		By("applying CloudflareTunnel " + tunnelObject + " with kubectl")
		_, err = kubectlWithInput(ctx, tunnelManifest(), "apply", "-f", "-")
		Expect(err).NotTo(HaveOccurred())

		Eventually(ctx, func() string { return getTunnel(ctx).Status.TunnelID }).
			WithTimeout(time.Minute).ShouldNot(BeEmpty(), "status.tunnelID")
		obj := getTunnel(ctx)
		tunnelID = obj.Status.TunnelID
		Expect(obj.Status.AccountID).To(Equal(sampleAccountID))
		Expect(obj.Annotations).To(HaveKeyWithValue(v1alpha1.AnnotationTunnelID, tunnelID),
			"the tunnel id is recorded in metadata too")

		By("finding the tunnel in the fake, created exactly once")
		remote, found, err := api.tunnel(sampleAccountID, tunnelID)
		Expect(err).NotTo(HaveOccurred())
		Expect(found).To(BeTrue(), "the fake has no tunnel %s", tunnelID)
		Expect(remote.Name).To(Equal("k8s_" + tunnelNamespace + "_" + tunnelObject))
		Expect(remote.DeletedAt).To(BeNil())
		Consistently(ctx, func() (callCount, error) {
			return api.callsSince(mark, sampleAccountID, cffake.RouteTunnelCreate)
		}).WithTimeout(settle).WithPolling(500 * time.Millisecond).Should(Equal(callCount{1, 1}))

		By("checking the connector's Deployment, token Secret, PodDisruptionBudget and NetworkPolicy")
		Eventually(ctx, func() error {
			_, err := getConnector(ctx)
			return err
		}).WithTimeout(time.Minute).Should(Succeed())
		assertConnector(ctx, obj)

		By("waiting for Ready=False, ConnectorUnavailable: no connector pod can run here")
		Eventually(ctx, func() string { return readyReason(ctx) }).WithTimeout(time.Minute).
			Should(Equal(v1alpha1.ReasonConnectorUnavailable))
		printCalls(mark)
	}, SpecTimeout(3*time.Minute))

	It("turns Ready once the connector is available and Cloudflare calls the tunnel healthy", func(ctx SpecContext) {
		Expect(tunnelID).NotTo(BeEmpty(), "the previous spec made no tunnel")
		By("marking Deployment " + connectorName + " available, as the deployment controller would")
		markDeploymentAvailable(ctx)
		Eventually(ctx, func() string { return readyReason(ctx) }).WithTimeout(time.Minute).
			Should(Equal(v1alpha1.ReasonTunnelDegraded), "the fake still reports the new tunnel inactive")

		By("setting the tunnel healthy with 2 connections in the fake, as the connectors would")
		Expect(api.setTunnelHealth(sampleAccountID, tunnelID, cffake.TunnelHealthy, 2)).To(Succeed())
		// The operator polls a tunnel that is not healthy yet every 30 seconds.
		Eventually(ctx, func(g Gomega) {
			obj := getTunnel(ctx)
			ready := meta.FindStatusCondition(obj.Status.Conditions, v1alpha1.ConditionReady)
			g.Expect(ready).NotTo(BeNil())
			g.Expect(ready.Status).To(Equal(metav1.ConditionTrue), ready.Message)
			g.Expect(ready.Reason).To(Equal(v1alpha1.ReasonConnected))
			g.Expect(obj.Status.ObservedGeneration).To(Equal(obj.Generation))
			g.Expect(obj.Status.TunnelStatus).To(Equal(cffake.TunnelHealthy))
			g.Expect(obj.Status.Connections).To(Equal(int32(2)))
			g.Expect(obj.Status.AvailableReplicas).To(Equal(int32(tunnelReplicas)))
		}).WithTimeout(90 * time.Second).WithPolling(time.Second).Should(Succeed())
		_, err := kubectl(ctx, "wait", "--for=condition=Ready", "-n", tunnelNamespace,
			"cloudflaretunnel/"+tunnelObject, "--timeout=10s")
		Expect(err).NotTo(HaveOccurred())
	}, SpecTimeout(3*time.Minute))

	It("deletes the Cloudflare tunnel when the object is deleted", func(ctx SpecContext) {
		Expect(tunnelID).NotTo(BeEmpty(), "the first spec made no tunnel")
		mark, err := api.mark()
		Expect(err).NotTo(HaveOccurred())
		By("kubectl delete cloudflaretunnel " + tunnelObject)
		_, err = kubectl(ctx, "delete", "-n", tunnelNamespace, "cloudflaretunnel", tunnelObject, "--timeout=2m")
		Expect(err).NotTo(HaveOccurred())

		remote, found, err := api.tunnel(sampleAccountID, tunnelID)
		Expect(err).NotTo(HaveOccurred())
		Expect(found).To(BeTrue())
		Expect(remote.DeletedAt).NotTo(BeNil(), "tunnel %s is still live in the fake", tunnelID)
		Consistently(ctx, func() (callCount, error) {
			return api.callsSince(mark, sampleAccountID, cffake.RouteTunnelDelete)
		}).WithTimeout(settle).WithPolling(500 * time.Millisecond).Should(Equal(callCount{1, 1}))

		By("checking that the operator stopped the connector itself")
		err = k8s.Get(ctx, client.ObjectKey{Namespace: tunnelNamespace, Name: connectorName}, &appsv1.Deployment{})
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "Deployment %s: %v", connectorName, err)
		printCalls(mark)

		By("deleting the account: nothing uses it any more")
		_, err = kubectl(ctx, "delete", "-n", tunnelNamespace, "cloudflareaccount", tunnelAccount, "--timeout=1m")
		Expect(err).NotTo(HaveOccurred())
	}, SpecTimeout(4*time.Minute))
})

// getTunnel reads the spec's CloudflareTunnel with the admin client.
func getTunnel(ctx context.Context) v1alpha1.CloudflareTunnel {
	GinkgoHelper()
	var obj v1alpha1.CloudflareTunnel
	Expect(k8s.Get(ctx, client.ObjectKey{Namespace: tunnelNamespace, Name: tunnelObject}, &obj)).To(Succeed())
	return obj
}

// readyReason is the reason of the tunnel's Ready condition, or "" without one.
func readyReason(ctx context.Context) string {
	obj := getTunnel(ctx)
	if c := meta.FindStatusCondition(obj.Status.Conditions, v1alpha1.ConditionReady); c != nil {
		return c.Reason
	}
	return ""
}

// connectorObjects are the objects the operator writes for a tunnel's connector.
type connectorObjects struct {
	deployment appsv1.Deployment
	secret     corev1.Secret
	pdb        policyv1.PodDisruptionBudget
	policy     networkingv1.NetworkPolicy
}

// getConnector reads the connector's four objects; the error names the first one missing.
func getConnector(ctx context.Context) (*connectorObjects, error) {
	c := &connectorObjects{}
	for _, o := range []struct {
		name string
		obj  client.Object
	}{
		{connectorName, &c.deployment},
		{tokenSecretName, &c.secret},
		{connectorName, &c.pdb},
		{connectorName, &c.policy},
	} {
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: tunnelNamespace, Name: o.name}, o.obj); err != nil {
			return nil, fmt.Errorf("%T %s: %w", o.obj, o.name, err)
		}
	}
	return c, nil
}

// assertConnector checks what a user would: the four objects are controlled by the tunnel (so
// Kubernetes deletes them with it) and labelled as the operator's, the Secret holds the token
// Cloudflare hands out for the tunnel, and the Deployment reads it from there, never inline.
func assertConnector(ctx context.Context, tunnel v1alpha1.CloudflareTunnel) {
	GinkgoHelper()
	c, err := getConnector(ctx)
	Expect(err).NotTo(HaveOccurred())
	for _, obj := range []client.Object{&c.deployment, &c.secret, &c.pdb, &c.policy} {
		owner := metav1.GetControllerOf(obj)
		Expect(owner).NotTo(BeNil(), "%T %s has no controller", obj, obj.GetName())
		Expect(owner.UID).To(Equal(tunnel.UID), "%T %s is controlled by %s", obj, obj.GetName(), owner.Name)
		Expect(obj.GetLabels()).To(HaveKeyWithValue("app.kubernetes.io/managed-by", managedBy))
	}

	token, err := api.tunnelToken(sampleAccountID, tunnel.Status.TunnelID)
	Expect(err).NotTo(HaveOccurred())
	Expect(string(c.secret.Data["token"])).To(Equal(token), "the Secret holds the tunnel's connector token")
	Expect(ptr.Deref(c.deployment.Spec.Replicas, 0)).To(Equal(int32(tunnelReplicas)))
	containers := c.deployment.Spec.Template.Spec.Containers
	Expect(containers).To(HaveLen(1))
	Expect(containers[0].Env).To(ContainElement(
		HaveField("ValueFrom.SecretKeyRef.LocalObjectReference.Name", tokenSecretName)))
	for _, env := range containers[0].Env {
		Expect(env.Value).NotTo(ContainSubstring(token), "env %s holds the token inline", env.Name)
	}
	Expect(c.policy.Spec.PolicyTypes).To(ContainElement(networkingv1.PolicyTypeEgress))
}

// markDeploymentAvailable writes the status the deployment controller would write once every
// connector pod is available; envtest runs no controllers and no pods.
func markDeploymentAvailable(ctx context.Context) {
	GinkgoHelper()
	dep := &appsv1.Deployment{}
	Expect(k8s.Get(ctx, client.ObjectKey{Namespace: tunnelNamespace, Name: connectorName}, dep)).To(Succeed())
	before := dep.DeepCopy()
	n := ptr.Deref(dep.Spec.Replicas, 1)
	dep.Status = appsv1.DeploymentStatus{
		ObservedGeneration: dep.Generation,
		Replicas:           n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n,
		Conditions: []appsv1.DeploymentCondition{{
			Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue,
			Reason: "MinimumReplicasAvailable", Message: "Deployment has minimum availability.",
			LastUpdateTime: metav1.Now(), LastTransitionTime: metav1.Now(),
		}},
	}
	Expect(k8s.Status().Patch(ctx, dep, client.MergeFrom(before))).To(Succeed())
}

// tunnelAccountManifest is the CloudflareAccount the tunnel uses, with the samples' account id.
func tunnelAccountManifest() string {
	return fmt.Sprintf(`apiVersion: connectivity.workersvpc.dev/v1alpha1
kind: CloudflareAccount
metadata:
  name: %s
  namespace: %s
spec:
  accountID: %s
  secretRef:
    name: %s
`, tunnelAccount, tunnelNamespace, sampleAccountID, credentialsSecret)
}

// tunnelManifest is the spec's CloudflareTunnel: a tunnel the operator creates, with two replicas.
func tunnelManifest() string {
	return fmt.Sprintf(`apiVersion: connectivity.workersvpc.dev/v1alpha1
kind: CloudflareTunnel
metadata:
  name: %s
  namespace: %s
spec:
  accountRef:
    kind: CloudflareAccount
    name: %s
  connector:
    replicas: %d
`, tunnelObject, tunnelNamespace, tunnelAccount, tunnelReplicas)
}

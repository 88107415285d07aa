package controller_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	"github.com/workersvpc/connectivity-operator/internal/cloudflare/cloudflaretest"
	"github.com/workersvpc/connectivity-operator/internal/connector"
)

var _ = Describe("CloudflareTunnel", func() {
	var (
		ctx context.Context
		t   *tenant
	)
	BeforeEach(func() {
		ctx = context.Background()
		t = newTenant(ctx)
	})

	It("creates the tunnel, keeps its token in a Secret and runs the connector, Ready once healthy", func() {
		tun := t.tunnel("edge")
		Expect(k8s.Create(ctx, tun)).To(Succeed())
		got := expectTunnelCondition(ctx, tun, v1alpha1.ConditionReconciling, "True", v1alpha1.ReasonConnectorUnavailable)
		id := got.Status.TunnelID
		Expect(id).NotTo(BeEmpty())
		Expect(got.Annotations).To(HaveKeyWithValue(v1alpha1.AnnotationTunnelID, id), "the id is recorded in metadata")
		remote, ok := api.Tunnel(t.accountID, id)
		Expect(ok).To(BeTrue())
		Expect(remote.Name).To(Equal("k8s_" + t.ns + "_edge"))
		Expect(remote.ConfigSrc).To(Equal("cloudflare"))
		Expect(t.count(cloudflaretest.RouteTunnelCreate)).To(Equal(1))
		Expect(t.count(cloudflaretest.RouteTunnelToken)).To(Equal(0), "the create reply carried the token")

		secret := &corev1.Secret{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: t.ns, Name: connector.SecretName(tun)}, secret)).To(Succeed())
		Expect(string(secret.Data[connector.TokenKey])).To(Equal(api.TunnelTokenOf(t.accountID, id)))
		Expect(secret.OwnerReferences).To(HaveLen(1))

		dep := connectorDeployment(ctx, t.ns, tun)
		Expect(*dep.Spec.Replicas).To(Equal(int32(2)))
		Expect(dep.Spec.Template.Spec.Containers[0].Image).To(Equal(v1alpha1.DefaultConnectorImage))
		Expect(dep.Spec.Template.Spec.Containers[0].Env[0].ValueFrom.SecretKeyRef.Name).To(Equal(connector.SecretName(tun)))
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: t.ns, Name: connector.DeploymentName(tun)}, &policyv1.PodDisruptionBudget{})).To(Succeed())
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: t.ns, Name: connector.DeploymentName(tun)}, &networkingv1.NetworkPolicy{})).To(Succeed())

		markAvailable(ctx, dep, 2)
		expectTunnelCondition(ctx, tun, v1alpha1.ConditionReconciling, "True", v1alpha1.ReasonTunnelDegraded)
		api.SetTunnelHealth(t.accountID, id, "healthy", 4)
		got = expectTunnelReady(ctx, tun)
		Expect(got.Status.TunnelStatus).To(Equal("healthy"))
		Expect(got.Status.Connections).To(Equal(int32(4)))
		Expect(got.Status.AvailableReplicas).To(Equal(int32(2)))
		Expect(t.count(cloudflaretest.RouteTunnelCreate)).To(Equal(1))
		Expect(api.Tunnels(t.accountID)).To(HaveLen(2), "the suite's tunnel and this one")

		By("scraping the tunnel metrics")
		Eventually(scrapeMetrics, 10*time.Second, 200*time.Millisecond).Should(ContainSubstring(fmt.Sprintf(
			`connectivity_operator_tunnel_connections{name="edge",namespace="%s"} 4`, t.ns)))
		body := scrapeMetrics()
		Expect(body).To(MatchRegexp(`connectivity_operator_tunnels\{condition="Ready"\} [1-9]`))
		Expect(body).To(ContainSubstring(fmt.Sprintf(
			`connectivity_operator_cloudflare_api_requests_total{account="%s",code="200",method="POST",route="tunnel-create"} 1`, t.accountID)))
	})

	It("adopts an existing tunnel by id without creating one, reading its token", func() {
		seeded := api.SeedTunnel(t.accountID, "made-elsewhere")
		tun := t.tunnel("adopted")
		tun.Spec.TunnelID = seeded.ID
		Expect(k8s.Create(ctx, tun)).To(Succeed())
		got := expectTunnelCondition(ctx, tun, v1alpha1.ConditionReconciling, "True", v1alpha1.ReasonConnectorUnavailable)
		Expect(got.Status.TunnelID).To(Equal(seeded.ID))
		Expect(t.count(cloudflaretest.RouteTunnelCreate)).To(Equal(0))
		Expect(t.count(cloudflaretest.RouteTunnelToken)).To(Equal(1))
		secret := &corev1.Secret{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: t.ns, Name: connector.SecretName(tun)}, secret)).To(Succeed())
		Expect(string(secret.Data[connector.TokenKey])).To(Equal(api.TunnelTokenOf(t.accountID, seeded.ID)))
		expectEvent(ctx, t.ns, v1alpha1.ReasonAdopted)
	})

	It("makes exactly one tunnel when the create commits but its reply is lost", func() {
		api.FailNext(cloudflaretest.RouteTunnelCreate, 1, cloudflaretest.Fault{Status: 502, Commit: true})
		tun := t.tunnel("lost-reply")
		Expect(k8s.Create(ctx, tun)).To(Succeed())
		got := expectTunnelCondition(ctx, tun, v1alpha1.ConditionReconciling, "True", v1alpha1.ReasonConnectorUnavailable)
		Expect(t.count(cloudflaretest.RouteTunnelCreate)).To(Equal(1), "the lost reply is resolved by name and token, not by creating again")
		Expect(t.ownTunnels()).To(HaveLen(1))
		Expect(got.Status.TunnelID).To(Equal(t.ownTunnels()[0].ID))
		Expect(got.Annotations).NotTo(HaveKey(v1alpha1.AnnotationCreateIntent))
	})

	It("never claims a tunnel of its name that it did not make, and adopts it when told to", func() {
		foreign := api.SeedTunnel(t.accountID, "k8s_"+t.ns+"_taken")
		tun := t.tunnel("taken")
		Expect(k8s.Create(ctx, tun)).To(Succeed())
		got := expectTunnelCondition(ctx, tun, v1alpha1.ConditionStalled, "True", v1alpha1.ReasonNameConflict)
		Expect(conditionMessage(got.Status.Conditions, v1alpha1.ConditionStalled)).To(ContainSubstring("spec.tunnelID: " + foreign.ID))
		Expect(got.Status.TunnelID).To(BeEmpty())
		Expect(t.count(cloudflaretest.RouteTunnelCreate)).To(Equal(0))
		Expect(t.count(cloudflaretest.RouteTunnelDelete)).To(Equal(0))

		updateTunnel(ctx, tun, func(o *v1alpha1.CloudflareTunnel) { o.Spec.TunnelID = foreign.ID })
		got = expectTunnelCondition(ctx, tun, v1alpha1.ConditionReconciling, "True", v1alpha1.ReasonConnectorUnavailable)
		Expect(got.Status.TunnelID).To(Equal(foreign.ID))
		Expect(t.count(cloudflaretest.RouteTunnelCreate)).To(Equal(0))
	})

	It("resolves tunnelRef once the tunnel has an id, and the egress policy follows the services", func() {
		svc := t.service("db")
		svc.Spec.Type = v1alpha1.ServiceTypeTCP
		svc.Spec.TCPPort = new(int32(5432))
		svc.Spec.Host = v1alpha1.ServiceHost{IPv4: "10.1.2.3", Network: &v1alpha1.Network{TunnelRef: &v1alpha1.TunnelReference{Name: "later"}}}
		Expect(k8s.Create(ctx, svc)).To(Succeed())
		expectCondition(ctx, svc, v1alpha1.ConditionReconciling, "True", v1alpha1.ReasonTunnelNotReady)
		Consistently(func() int { return t.count(cloudflaretest.RouteCreate) }, 2*time.Second, 200*time.Millisecond).Should(BeZero())

		tun := t.tunnel("later")
		Expect(k8s.Create(ctx, tun)).To(Succeed())
		id := expectTunnelCondition(ctx, tun, v1alpha1.ConditionReconciling, "True", v1alpha1.ReasonConnectorUnavailable).Status.TunnelID
		got := expectReady(ctx, svc)
		remote, ok := api.Service(t.accountID, got.Status.ServiceID)
		Expect(ok).To(BeTrue())
		Expect(remote.Host.Network.TunnelID).To(Equal(id))

		Eventually(func(g Gomega) {
			g.Expect(egressTo(ctx, g, t.ns, tun)).To(ContainElement("10.1.2.3/32:5432"))
		}, 20*time.Second, 200*time.Millisecond).Should(Succeed())
		Expect(k8s.Delete(ctx, svc)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(egressTo(ctx, g, t.ns, tun)).NotTo(ContainElement("10.1.2.3/32:5432"))
		}, 20*time.Second, 200*time.Millisecond).Should(Succeed())
	})

	It("deletes in order: the services, then the connector, the tunnel's connections and the tunnel", func() {
		tun := t.tunnel("ordered")
		Expect(k8s.Create(ctx, tun)).To(Succeed())
		id := expectTunnelCondition(ctx, tun, v1alpha1.ConditionReconciling, "True", v1alpha1.ReasonConnectorUnavailable).Status.TunnelID
		api.SetTunnelHealth(t.accountID, id, "healthy", 2)
		svc := t.service("web")
		svc.Spec.Host.Network = &v1alpha1.Network{TunnelRef: &v1alpha1.TunnelReference{Name: "ordered"}}
		Expect(k8s.Create(ctx, svc)).To(Succeed())
		expectReady(ctx, svc)

		Expect(k8s.Delete(ctx, tun)).To(Succeed())
		expectTunnelCondition(ctx, tun, v1alpha1.ConditionReconciling, "True", v1alpha1.ReasonTunnelInUse)
		Consistently(func() int { return t.count(cloudflaretest.RouteTunnelDelete) }, 2*time.Second, 200*time.Millisecond).Should(BeZero())

		Expect(k8s.Delete(ctx, svc)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(tun), &v1alpha1.CloudflareTunnel{}))
		}, 30*time.Second, 200*time.Millisecond).Should(BeTrue())
		remote, _ := api.Tunnel(t.accountID, id)
		Expect(remote.DeletedAt).NotTo(BeNil())
		Expect(routesOf(t.accountID)).To(ContainElements(cloudflaretest.RouteDelete, cloudflaretest.RouteTunnelConnectionsDelete, cloudflaretest.RouteTunnelDelete))
		Expect(firstIndex(routesOf(t.accountID), cloudflaretest.RouteDelete)).To(BeNumerically("<", firstIndex(routesOf(t.accountID), cloudflaretest.RouteTunnelConnectionsDelete)))
		Expect(firstIndex(routesOf(t.accountID), cloudflaretest.RouteTunnelConnectionsDelete)).To(BeNumerically("<", firstIndex(routesOf(t.accountID), cloudflaretest.RouteTunnelDelete)))
		err := k8s.Get(ctx, client.ObjectKey{Namespace: t.ns, Name: connector.DeploymentName(tun)}, &appsv1.Deployment{})
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the connector is stopped before the tunnel goes")
	})

	It("leaves the tunnel in Cloudflare with deletionPolicy Orphan", func() {
		tun := t.tunnel("kept")
		tun.Spec.DeletionPolicy = v1alpha1.DeletionPolicyOrphan
		Expect(k8s.Create(ctx, tun)).To(Succeed())
		id := expectTunnelCondition(ctx, tun, v1alpha1.ConditionReconciling, "True", v1alpha1.ReasonConnectorUnavailable).Status.TunnelID
		Expect(k8s.Delete(ctx, tun)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(tun), &v1alpha1.CloudflareTunnel{}))
		}, 30*time.Second, 200*time.Millisecond).Should(BeTrue())
		remote, ok := api.Tunnel(t.accountID, id)
		Expect(ok).To(BeTrue())
		Expect(remote.DeletedAt).To(BeNil())
		Expect(t.count(cloudflaretest.RouteTunnelDelete)).To(Equal(0))
		Expect(t.count(cloudflaretest.RouteTunnelConnectionsDelete)).To(Equal(0))
	})

	It("refuses a spec.tunnelID added later that names another tunnel than the one it runs", func() {
		tun := t.tunnel("switch")
		Expect(k8s.Create(ctx, tun)).To(Succeed())
		id := expectTunnelCondition(ctx, tun, v1alpha1.ConditionReconciling, "True", v1alpha1.ReasonConnectorUnavailable).Status.TunnelID
		other := api.SeedTunnel(t.accountID, "someone-elses")
		updateTunnel(ctx, tun, func(o *v1alpha1.CloudflareTunnel) { o.Spec.TunnelID = other.ID })
		got := expectTunnelCondition(ctx, tun, v1alpha1.ConditionStalled, "True", v1alpha1.ReasonInvalidSpec)
		Expect(got.Status.TunnelID).To(Equal(id))
		Expect(t.count(cloudflaretest.RouteTunnelToken)).To(Equal(0), "the other tunnel's token is never read")
	})

	It("stalls with PermissionDenied naming the tunnel permission when the token lacks it", func() {
		limited := "tok-" + randHex(12)
		api.AddCredential(cloudflaretest.Credential{Token: limited, Accounts: []string{t.accountID}, NoTunnelPermission: true})
		t.writeSecret(ctx, limited)
		tun := t.tunnel("no-permission")
		Expect(k8s.Create(ctx, tun)).To(Succeed())
		got := expectTunnelCondition(ctx, tun, v1alpha1.ConditionStalled, "True", v1alpha1.ReasonPermissionDenied)
		Expect(conditionMessage(got.Status.Conditions, v1alpha1.ConditionStalled)).To(ContainSubstring("Cloudflare Tunnel Edit"))
		Expect(t.ownTunnels()).To(BeEmpty())
	})

	It("follows the connector Deployment: Ready goes when no connector pod is available", func() {
		tun := t.tunnel("flaky")
		Expect(k8s.Create(ctx, tun)).To(Succeed())
		id := expectTunnelCondition(ctx, tun, v1alpha1.ConditionReconciling, "True", v1alpha1.ReasonConnectorUnavailable).Status.TunnelID
		api.SetTunnelHealth(t.accountID, id, "healthy", 2)
		dep := connectorDeployment(ctx, t.ns, tun)
		markAvailable(ctx, dep, 1)
		expectTunnelReady(ctx, tun)
		markAvailable(ctx, dep, 0)
		got := expectTunnelCondition(ctx, tun, v1alpha1.ConditionReady, "False", v1alpha1.ReasonConnectorUnavailable)
		Expect(got.Status.AvailableReplicas).To(BeZero())
	})

	It("keeps its account until the tunnel is gone", func() {
		tun := t.tunnel("holds-account")
		Expect(k8s.Create(ctx, tun)).To(Succeed())
		expectTunnelCondition(ctx, tun, v1alpha1.ConditionReconciling, "True", v1alpha1.ReasonConnectorUnavailable)
		acct := &v1alpha1.CloudflareAccount{ObjectMeta: metav1.ObjectMeta{Namespace: t.ns, Name: "cf"}}
		Expect(k8s.Delete(ctx, acct)).To(Succeed())
		Consistently(func() error { return k8s.Get(ctx, client.ObjectKeyFromObject(acct), acct) },
			2*time.Second, 200*time.Millisecond).Should(Succeed(), "the account waits for its tunnel")
		Expect(k8s.Delete(ctx, tun)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKeyFromObject(acct), &v1alpha1.CloudflareAccount{}))
		}, 30*time.Second, 200*time.Millisecond).Should(BeTrue())
		Expect(t.count(cloudflaretest.RouteTunnelDelete)).To(Equal(1), "the tunnel was deleted with the account's credentials")
	})

	It("never lets the connector token out of its Secret", func() {
		tun := t.tunnel("sentinel")
		Expect(k8s.Create(ctx, tun)).To(Succeed())
		got := expectTunnelCondition(ctx, tun, v1alpha1.ConditionReconciling, "True", v1alpha1.ReasonConnectorUnavailable)
		token := api.TunnelTokenOf(t.accountID, got.Status.TunnelID)
		Expect(token).NotTo(BeEmpty())
		// Fail the next token read, so errors around the token are logged too.
		Expect(k8s.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: t.ns, Name: connector.SecretName(tun)}})).To(Succeed())
		Eventually(func() error {
			return k8s.Get(ctx, client.ObjectKey{Namespace: t.ns, Name: connector.SecretName(tun)}, &corev1.Secret{})
		}, 20*time.Second, 200*time.Millisecond).Should(Succeed(), "a deleted token Secret is written again")

		raw, err := json.Marshal(get2(ctx, tun))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(raw)).NotTo(ContainSubstring(token))
		var events eventsv1.EventList
		Expect(k8s.List(ctx, &events, client.InNamespace(t.ns))).To(Succeed())
		for _, e := range events.Items {
			Expect(e.Note).NotTo(ContainSubstring(token))
		}
		dep := connectorDeployment(ctx, t.ns, tun)
		raw, err = json.Marshal(dep)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(raw)).NotTo(ContainSubstring(token))
		Expect(logs.String()).NotTo(ContainSubstring(token))
		Expect(strings.Count(logs.String(), "tunnel")).To(BeNumerically(">", 0), "the logs were captured")
	})
})

// tunnel returns a CloudflareTunnel of this tenant.
func (t *tenant) tunnel(name string) *v1alpha1.CloudflareTunnel {
	return &v1alpha1.CloudflareTunnel{
		ObjectMeta: metav1.ObjectMeta{Namespace: t.ns, Name: name},
		Spec: v1alpha1.CloudflareTunnelSpec{
			AccountRef: &v1alpha1.AccountReference{Kind: v1alpha1.AccountKindNamespaced, Name: "cf"},
		},
	}
}

// ownTunnels are the tenant's tunnels other than the suite's shared one.
func (t *tenant) ownTunnels() []cloudflaretest.Tunnel {
	var out []cloudflaretest.Tunnel
	for _, tun := range api.Tunnels(t.accountID) {
		if tun.ID != tunnelID {
			out = append(out, tun)
		}
	}
	return out
}

func get2(ctx context.Context, obj *v1alpha1.CloudflareTunnel) *v1alpha1.CloudflareTunnel {
	out := &v1alpha1.CloudflareTunnel{}
	Expect(k8s.Get(ctx, client.ObjectKeyFromObject(obj), out)).To(Succeed())
	return out
}

// expectTunnelCondition waits until the tunnel has the condition with this status and reason.
func expectTunnelCondition(ctx context.Context, obj *v1alpha1.CloudflareTunnel, condType, status, reason string) *v1alpha1.CloudflareTunnel {
	out := &v1alpha1.CloudflareTunnel{}
	Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(obj), out)).To(Succeed())
		c := meta.FindStatusCondition(out.Status.Conditions, condType)
		g.Expect(c).NotTo(BeNil(), "conditions: %+v", out.Status.Conditions)
		g.Expect(string(c.Status)).To(Equal(status), "conditions: %+v", out.Status.Conditions)
		g.Expect(c.Reason).To(Equal(reason), "conditions: %+v", out.Status.Conditions)
	}, 30*time.Second, 100*time.Millisecond).Should(Succeed())
	return out
}

// expectTunnelReady waits until the tunnel is Ready for its current generation.
func expectTunnelReady(ctx context.Context, obj *v1alpha1.CloudflareTunnel) *v1alpha1.CloudflareTunnel {
	out := expectTunnelCondition(ctx, obj, v1alpha1.ConditionReady, "True", v1alpha1.ReasonConnected)
	Expect(out.Status.ObservedGeneration).To(Equal(out.Generation))
	return out
}

// connectorDeployment waits for the tunnel's connector Deployment.
func connectorDeployment(ctx context.Context, ns string, tun *v1alpha1.CloudflareTunnel) *appsv1.Deployment {
	dep := &appsv1.Deployment{}
	Eventually(func() error {
		return k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: connector.DeploymentName(tun)}, dep)
	}, 20*time.Second, 100*time.Millisecond).Should(Succeed())
	return dep
}

// markAvailable plays the Deployment controller and kubelet, which envtest does not run.
func markAvailable(ctx context.Context, dep *appsv1.Deployment, n int32) {
	Eventually(func() error {
		latest := &appsv1.Deployment{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(dep), latest); err != nil {
			return err
		}
		latest.Status.Replicas, latest.Status.ReadyReplicas, latest.Status.AvailableReplicas = n, n, n
		latest.Status.ObservedGeneration = latest.Generation
		latest.Status.Conditions = []appsv1.DeploymentCondition{{
			Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable",
			LastUpdateTime: metav1.Now(), LastTransitionTime: metav1.Now(),
		}}
		return k8s.Status().Update(ctx, latest)
	}, 10*time.Second, 100*time.Millisecond).Should(Succeed())
}

// updateTunnel changes a tunnel through the direct client, retrying on conflicts.
func updateTunnel(ctx context.Context, obj *v1alpha1.CloudflareTunnel, mutate func(*v1alpha1.CloudflareTunnel)) {
	Eventually(func() error {
		latest := &v1alpha1.CloudflareTunnel{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(obj), latest); err != nil {
			return err
		}
		mutate(latest)
		return k8s.Update(ctx, latest)
	}, 10*time.Second, 100*time.Millisecond).Should(Succeed())
}

// egressTo lists the connector NetworkPolicy's origin rules as "cidr:port".
func egressTo(ctx context.Context, g Gomega, ns string, tun *v1alpha1.CloudflareTunnel) []string {
	policy := &networkingv1.NetworkPolicy{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: connector.DeploymentName(tun)}, policy)).To(Succeed())
	var out []string
	for _, rule := range policy.Spec.Egress {
		for _, peer := range rule.To {
			if peer.IPBlock == nil {
				continue
			}
			for _, port := range rule.Ports {
				out = append(out, peer.IPBlock.CIDR+":"+port.Port.String())
			}
		}
	}
	return out
}

// routesOf is the order of the calls an account received.
func routesOf(accountID string) []cloudflaretest.Route {
	var out []cloudflaretest.Route
	for _, r := range api.Requests() {
		if r.AccountID == accountID {
			out = append(out, r.Route)
		}
	}
	return out
}

func firstIndex(routes []cloudflaretest.Route, r cloudflaretest.Route) int {
	for i, x := range routes {
		if x == r {
			return i
		}
	}
	return -1
}

func conditionMessage(conds []metav1.Condition, condType string) string {
	if c := meta.FindStatusCondition(conds, condType); c != nil {
		return c.Message
	}
	return ""
}

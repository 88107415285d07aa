package controller_test

import (
	"context"
	"encoding/json"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	"github.com/workersvpc/connectivity-operator/internal/cloudflare/cloudflaretest"
	"github.com/workersvpc/connectivity-operator/internal/connector"
	"github.com/workersvpc/connectivity-operator/internal/export"
)

var _ = Describe("ConnectivityService from a Kubernetes Service", func() {
	var (
		ctx    context.Context
		t      *tenant
		dnsIPs []string
	)
	BeforeEach(func() {
		ctx = context.Background()
		t = newTenant(ctx)
		dnsIPs = clusterDNSIPs(ctx)
	})

	// fromService is a ConnectivityService of the tenant that sends the Service name:port.
	fromService := func(name string, port intstr.IntOrString, typ v1alpha1.ServiceType) *v1alpha1.ConnectivityService {
		obj := t.service(name + "-cs")
		obj.Spec.Type = typ
		obj.Spec.Host = v1alpha1.ServiceHost{
			ServiceRef:      &v1alpha1.ServiceReference{Name: name, Port: port},
			ResolverNetwork: &v1alpha1.ResolverNetwork{TunnelID: tunnelID},
		}
		return obj
	}
	// byClusterIP switches a serviceRef to the Service's cluster IPs.
	byClusterIP := func(obj *v1alpha1.ConnectivityService) *v1alpha1.ConnectivityService {
		obj.Spec.Host.ServiceRef.Address = v1alpha1.ServiceAddressClusterIP
		obj.Spec.Host.ResolverNetwork = nil
		obj.Spec.Host.Network = &v1alpha1.Network{TunnelID: tunnelID}
		return obj
	}
	remoteOf := func(obj *v1alpha1.ConnectivityService) cloudflaretest.Service {
		got := expectReady(ctx, obj)
		svc, ok := api.Service(t.accountID, got.Status.ServiceID)
		Expect(ok).To(BeTrue())
		return svc
	}

	It("sends the Service's cluster DNS name, resolved with the cluster DNS found in kube-system", func() {
		t.kubeService(ctx, "web", corev1.ServicePort{Name: "http", Port: 8080})
		obj := fromService("web", intstr.FromInt32(8080), v1alpha1.ServiceTypeHTTP)
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		remote := remoteOf(obj)
		Expect(remote.Host.Hostname).To(Equal("web." + t.ns + ".svc.cluster.local"))
		Expect(remote.Host.ResolverNetwork.ResolverIPs).To(Equal(dnsIPs))
		Expect(remote.HTTPPort).To(HaveValue(Equal(int32(8080))))
		got := expectReady(ctx, obj)
		Expect(got.Status.Host.Hostname).To(Equal(remote.Host.Hostname), "status shows the host sent")
		Expect(got.Status.Host.HTTPPort).To(HaveValue(Equal(int32(8080))))
	})

	It("sends the cluster IP of a single-stack Service, and both of a dual-stack one", func() {
		t.kubeService(ctx, "single", corev1.ServicePort{Port: 5432})
		single := byClusterIP(fromService("single", intstr.FromInt32(5432), v1alpha1.ServiceTypeTCP))
		Expect(k8s.Create(ctx, single)).To(Succeed())
		kube := &corev1.Service{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: t.ns, Name: "single"}, kube)).To(Succeed())
		remote := remoteOf(single)
		Expect(remote.Host.IPv4).To(Equal(kube.Spec.ClusterIP))
		Expect(remote.Host.IPv6).To(BeEmpty())
		Expect(remote.TCPPort).To(HaveValue(Equal(int32(5432))))

		dual := t.kubeService(ctx, "dual", corev1.ServicePort{Port: 3306}, func(s *corev1.Service) {
			policy := corev1.IPFamilyPolicyRequireDualStack
			s.Spec.IPFamilyPolicy = &policy
		})
		Expect(dual.Spec.ClusterIPs).To(HaveLen(2))
		obj := byClusterIP(fromService("dual", intstr.FromInt32(3306), v1alpha1.ServiceTypeTCP))
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		remote = remoteOf(obj)
		Expect([]string{remote.Host.IPv4, remote.Host.IPv6}).To(ConsistOf(dual.Spec.ClusterIPs))
	})

	It("sends an ExternalName Service's name, and maps a named https port", func() {
		t.kubeService(ctx, "ext", corev1.ServicePort{Port: 5432}, func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeExternalName
			s.Spec.ExternalName = "db.example.com"
		})
		ext := fromService("ext", intstr.FromInt32(5432), v1alpha1.ServiceTypeTCP)
		Expect(k8s.Create(ctx, ext)).To(Succeed())
		remote := remoteOf(ext)
		Expect(remote.Host.Hostname).To(Equal("db.example.com"))
		Expect(remote.Host.ResolverNetwork.ResolverIPs).To(BeEmpty())

		t.kubeService(ctx, "secure", corev1.ServicePort{Name: "https", Port: 8443})
		secure := fromService("secure", intstr.FromString("https"), v1alpha1.ServiceTypeHTTP)
		Expect(k8s.Create(ctx, secure)).To(Succeed())
		remote = remoteOf(secure)
		Expect(remote.HTTPSPort).To(HaveValue(Equal(int32(8443))))
		Expect(remote.HTTPPort).To(BeNil())
	})

	It("follows a change of the Service's port with one PUT", func() {
		kube := t.kubeService(ctx, "moving", corev1.ServicePort{Name: "http", Port: 8080})
		obj := fromService("moving", intstr.FromString("http"), v1alpha1.ServiceTypeHTTP)
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		id := expectReady(ctx, obj).Status.ServiceID
		updates := t.count(cloudflaretest.RouteUpdate)
		kube.Spec.Ports[0].Port = 9090
		Expect(k8s.Update(ctx, kube)).To(Succeed())
		Eventually(func() *int32 {
			svc, _ := api.Service(t.accountID, id)
			return svc.HTTPPort
		}, 20*time.Second, 100*time.Millisecond).Should(HaveValue(Equal(int32(9090))))
		Consistently(func() int { return t.count(cloudflaretest.RouteUpdate) }, 2*time.Second, 200*time.Millisecond).Should(Equal(updates + 1))
		Expect(t.count(cloudflaretest.RouteCreate)).To(Equal(1))
	})

	It("waits without any call for a missing Service or port, and goes on when they appear", func() {
		obj := fromService("later", intstr.FromString("http"), v1alpha1.ServiceTypeHTTP)
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		expectCondition(ctx, obj, v1alpha1.ConditionReconciling, "True", v1alpha1.ReasonServiceNotFound)
		kube := t.kubeService(ctx, "later", corev1.ServicePort{Name: "metrics", Port: 9100})
		expectCondition(ctx, obj, v1alpha1.ConditionReconciling, "True", v1alpha1.ReasonPortNotFound)
		Expect(t.count(cloudflaretest.RouteCreate)+t.count(cloudflaretest.RouteList)).To(Equal(1), "only the account's verification")
		kube.Spec.Ports = append(kube.Spec.Ports, corev1.ServicePort{Name: "http", Port: 80})
		Expect(k8s.Update(ctx, kube)).To(Succeed())
		expectReady(ctx, obj)
		Expect(t.count(cloudflaretest.RouteCreate)).To(Equal(1))
	})

	It("lets the tunnel's connector reach the Service's pods, on their target port", func() {
		tun := t.tunnel("to-pods")
		Expect(k8s.Create(ctx, tun)).To(Succeed())
		t.kubeService(ctx, "api", corev1.ServicePort{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)})
		obj := fromService("api", intstr.FromString("http"), v1alpha1.ServiceTypeHTTP)
		obj.Spec.Host.ResolverNetwork = &v1alpha1.ResolverNetwork{TunnelRef: &v1alpha1.TunnelReference{Name: "to-pods"}}
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		expectReady(ctx, obj)
		Eventually(func(g Gomega) {
			g.Expect(podEgressOf(ctx, g, t.ns, tun)).To(ContainElement(t.ns + "/app=api:8080"))
		}, 20*time.Second, 200*time.Millisecond).Should(Succeed())
	})

	It("exports the binding in a ConfigMap that follows the id and goes with the object", func() {
		obj := t.service("exported")
		obj.Spec.Export = &v1alpha1.Export{Binding: "API"}
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		first := expectReady(ctx, obj).Status.ServiceID
		key := client.ObjectKey{Namespace: t.ns, Name: "exported-vpc-binding"}
		expectBinding := func(id string) {
			Eventually(func(g Gomega) {
				cm := &corev1.ConfigMap{}
				g.Expect(k8s.Get(ctx, key, cm)).To(Succeed())
				g.Expect(cm.Data).To(HaveKeyWithValue(export.KeyServiceID, id))
				g.Expect(cm.Data).To(HaveKeyWithValue(export.KeyAccountID, t.accountID))
				g.Expect(cm.Data).To(HaveKeyWithValue(export.KeyName, "exported"))
				var wrangler struct {
					VPCServices []struct {
						Binding   string `json:"binding"`
						ServiceID string `json:"service_id"`
					} `json:"vpc_services"`
				}
				g.Expect(json.Unmarshal([]byte(cm.Data[export.KeyWrangler]), &wrangler)).To(Succeed())
				g.Expect(wrangler.VPCServices).To(HaveLen(1))
				g.Expect(wrangler.VPCServices[0].Binding).To(Equal("API"))
				g.Expect(wrangler.VPCServices[0].ServiceID).To(Equal(id))
				g.Expect(cm.OwnerReferences).To(HaveLen(1))
			}, 20*time.Second, 100*time.Millisecond).Should(Succeed())
		}
		expectBinding(first)

		By("the service deleted outside the operator: made again, with a new id")
		api.Remove(t.accountID, first)
		Eventually(func(g Gomega) {
			id := get(ctx, g, obj).Status.ServiceID
			g.Expect(id).NotTo(BeEmpty())
			g.Expect(id).NotTo(Equal(first))
		}, 30*time.Second, 200*time.Millisecond).Should(Succeed())
		expectBinding(expectReady(ctx, obj).Status.ServiceID)

		Expect(k8s.Delete(ctx, obj)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(k8s.Get(ctx, key, &corev1.ConfigMap{}))
		}, 20*time.Second, 100*time.Millisecond).Should(BeTrue())
	})
})

// kubeService creates a ClusterIP Service in the tenant's namespace and returns it as stored.
func (t *tenant) kubeService(ctx context.Context, name string, port corev1.ServicePort, opts ...func(*corev1.Service)) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: t.ns, Name: name},
		Spec: corev1.ServiceSpec{
			Ports:    []corev1.ServicePort{port},
			Selector: map[string]string{"app": name},
		},
	}
	for _, opt := range opts {
		opt(svc)
	}
	Expect(k8s.Create(ctx, svc)).To(Succeed())
	return svc
}

// clusterDNSIPs makes kube-system/kube-dns once, as a cluster has it, and returns its addresses.
func clusterDNSIPs(ctx context.Context) []string {
	dns := &corev1.Service{}
	key := client.ObjectKey{Namespace: "kube-system", Name: "kube-dns"}
	if err := k8s.Get(ctx, key, dns); apierrors.IsNotFound(err) {
		dns = &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name},
			Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP}}},
		}
		Expect(k8s.Create(ctx, dns)).To(Succeed())
	}
	return dns.Spec.ClusterIPs
}

// podEgressOf lists the connector NetworkPolicy's pod rules as "namespace/labels:port".
func podEgressOf(ctx context.Context, g Gomega, ns string, tun *v1alpha1.CloudflareTunnel) []string {
	policy := &networkingv1.NetworkPolicy{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: connector.DeploymentName(tun)}, policy)).To(Succeed())
	var out []string
	for _, rule := range policy.Spec.Egress {
		for _, peer := range rule.To {
			if peer.PodSelector == nil || peer.NamespaceSelector == nil {
				continue
			}
			for k, v := range peer.PodSelector.MatchLabels {
				for _, port := range rule.Ports {
					out = append(out, peer.NamespaceSelector.MatchLabels[corev1.LabelMetadataName]+"/"+k+"="+v+":"+port.Port.String())
				}
			}
		}
	}
	return out
}

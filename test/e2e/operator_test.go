package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	cffake "github.com/workersvpc/connectivity-operator/internal/cloudflare/cloudflaretest"
)

const (
	// burstNamespace, burstAccount and burstSize shape the crash test.
	burstNamespace = "e2e-burst"
	burstAccount   = "e2e-burst"
	burstSize      = 50
	// killAfterCreates is how many creates the fake must have seen before the manager is killed.
	killAfterCreates = 10
	// hungCreates is how many of the first creates commit in the fake but never get an answer,
	// so that the kill cuts them off with their outcome unknown to the operator.
	hungCreates = 3
	// settle is how long call counts must stay put after a step, so late extra calls are seen.
	settle = 5 * time.Second
)

// sample is one ConnectivityService of config/samples, with its YAML.
type sample struct {
	svc v1alpha1.ConnectivityService
	doc string
}

// remoteName is the service's name in Cloudflare.
func (s sample) remoteName() string {
	if s.svc.Spec.Name != "" {
		return s.svc.Spec.Name
	}
	return s.svc.Name
}

func (s sample) orphan() bool {
	return s.svc.Spec.DeletionPolicy == v1alpha1.DeletionPolicyOrphan
}

var _ = Describe("the operator as shipped (bin/manager as its manifests' ServiceAccount)", Ordered, func() {
	var (
		samplesDir string
		samples    []sample
		// remoteIDs are the service ids the samples got, by remote name.
		remoteIDs = map[string]string{}
	)

	BeforeAll(func(ctx SpecContext) {
		samplesDir = filepath.Join(paths.root, "config", "samples")
		out, err := kubectl(ctx, "kustomize", samplesDir)
		Expect(err).NotTo(HaveOccurred())
		samples, err = parseSamples(out)
		Expect(err).NotTo(HaveOccurred())
		Expect(samples).NotTo(BeEmpty())
	})

	AfterAll(func() {
		if counts, err := api.statusCounts(); err == nil {
			_, _ = fmt.Fprintf(GinkgoWriter, "fake Cloudflare API: calls by HTTP status over the suite: %v\n", counts)
		}
		expectNoRBACDenials()
	})

	It("runs the manager as the ServiceAccount, which may not list Secrets", func(ctx SpecContext) {
		out, err := runKubectl(ctx, manager.kubeconfig, "", "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(Equal("system:serviceaccount:" + operator.namespace + ":" + operator.serviceAccount))
		// can-i exits 1 when the answer is no; the answer is what counts.
		out, _ = runKubectl(ctx, manager.kubeconfig, "", "auth", "can-i", "list", "secrets", "--all-namespaces")
		Expect(strings.TrimSpace(out)).To(Equal("no"))
		out, _ = runKubectl(ctx, manager.kubeconfig, "", "auth", "can-i", "watch", "secrets", "--all-namespaces")
		Expect(strings.TrimSpace(out)).To(Equal("yes"))
	}, SpecTimeout(time.Minute))

	It("makes every sample Ready with exactly one create each and no 429", func(ctx SpecContext) {
		mark, err := api.mark()
		Expect(err).NotTo(HaveOccurred())

		By("applying config/samples with kubectl into namespace " + samplesNamespace)
		_, err = kubectl(ctx, "apply", "-n", samplesNamespace, "-k", samplesDir)
		Expect(err).NotTo(HaveOccurred())
		Expect(waitReady(ctx, "cloudflareaccounts,clustercloudflareaccounts", "--all-namespaces")).To(Succeed())
		Expect(waitReady(ctx, "connectivityservices", "-n", samplesNamespace)).To(Succeed())

		By("comparing every object with its service in the fake")
		remote, err := api.servicesByName(sampleAccountID)
		Expect(err).NotTo(HaveOccurred())
		Expect(remote).To(HaveLen(len(samples)))
		for _, s := range samples {
			r, ok := remote[s.remoteName()]
			Expect(ok).To(BeTrue(), "no service named %q in the fake", s.remoteName())
			spec := withTunnelIDs(ctx, samplesNamespace, s.svc.Spec)
			Expect(matchesSpec(spec, r)).To(Succeed(), "service %q", s.remoteName())
			obj := getService(ctx, samplesNamespace, s.svc.Name)
			Expect(obj.Status.ServiceID).To(Equal(r.ID), "status.serviceID of %s", s.svc.Name)
			Expect(obj.Status.CreatedAt).NotTo(BeNil())
			remoteIDs[r.Name] = r.ID
		}

		By("counting the calls: one create per sample, nothing else changes anything")
		n := len(samples)
		Consistently(ctx, func() (callCount, error) {
			return api.callsSince(mark, sampleAccountID, cffake.RouteCreate)
		}).WithTimeout(settle).WithPolling(500 * time.Millisecond).Should(Equal(callCount{n, n}))
		Expect(api.callsSince(mark, sampleAccountID, cffake.RouteUpdate)).To(Equal(callCount{}))
		Expect(api.callsSince(mark, sampleAccountID, cffake.RouteDelete)).To(Equal(callCount{}))
		Expect(api.statusCounts()).NotTo(HaveKey(http.StatusTooManyRequests))
		printCalls(mark)
	}, SpecTimeout(4*time.Minute))

	It("applies a changed sample with exactly one update", func(ctx SpecContext) {
		idx := slices.IndexFunc(samples, func(s sample) bool { return s.svc.Spec.Host.IPv4 != "" })
		Expect(idx).NotTo(BeNumerically("<", 0), "no sample has an IPv4 host")
		s := samples[idx]
		oldIP, newIP := s.svc.Spec.Host.IPv4, "10.0.99.99"
		changed := strings.Replace(s.doc, "ipv4: "+oldIP, "ipv4: "+newIP, 1)
		Expect(changed).NotTo(Equal(s.doc))
		mark, err := api.mark()
		Expect(err).NotTo(HaveOccurred())

		By(fmt.Sprintf("kubectl apply of %s with ipv4 %s instead of %s", s.svc.Name, newIP, oldIP))
		_, err = kubectlWithInput(ctx, changed, "apply", "-n", samplesNamespace, "-f", "-")
		Expect(err).NotTo(HaveOccurred())
		Eventually(ctx, func() (string, error) {
			remote, err := api.servicesByName(sampleAccountID)
			return remote[s.remoteName()].Host.IPv4, err
		}).WithTimeout(time.Minute).Should(Equal(newIP))
		Eventually(ctx, func() bool {
			obj := getService(ctx, samplesNamespace, s.svc.Name)
			return obj.Status.ObservedGeneration == obj.Generation &&
				meta.IsStatusConditionTrue(obj.Status.Conditions, v1alpha1.ConditionReady)
		}).WithTimeout(time.Minute).Should(BeTrue())
		remote, err := api.servicesByName(sampleAccountID)
		Expect(err).NotTo(HaveOccurred())
		Expect(remote[s.remoteName()].ID).To(Equal(remoteIDs[s.remoteName()]), "the update kept the service id")

		Consistently(ctx, func() (callCount, error) {
			return api.callsSince(mark, sampleAccountID, cffake.RouteUpdate)
		}).WithTimeout(settle).WithPolling(500 * time.Millisecond).Should(Equal(callCount{1, 1}))
		Expect(api.callsSince(mark, sampleAccountID, cffake.RouteCreate)).To(Equal(callCount{}))
		printCalls(mark)
	}, SpecTimeout(3*time.Minute))

	It("serves metrics only to callers the shipped metrics RBAC allows", func(ctx SpecContext) {
		url := fmt.Sprintf("https://127.0.0.1:%d/metrics", manager.metricsPort)
		Expect(operator.metricsReader).NotTo(BeEmpty(), "config/default has no ClusterRole for GET /metrics")
		for _, sa := range []string{"e2e-metrics-scraper", "e2e-metrics-denied"} {
			_, err := kubectl(ctx, "create", "serviceaccount", sa, "-n", samplesNamespace)
			Expect(err).NotTo(HaveOccurred())
		}
		_, err := kubectl(ctx, "create", "clusterrolebinding", "e2e-metrics-scraper",
			"--clusterrole="+operator.metricsReader, "--serviceaccount="+samplesNamespace+":e2e-metrics-scraper")
		Expect(err).NotTo(HaveOccurred())
		scraper, err := kubectl(ctx, "create", "token", "e2e-metrics-scraper", "-n", samplesNamespace)
		Expect(err).NotTo(HaveOccurred())
		denied, err := kubectl(ctx, "create", "token", "e2e-metrics-denied", "-n", samplesNamespace)
		Expect(err).NotTo(HaveOccurred())

		By("no token: 401; a token without the role: 403; the metrics reader: 200")
		Expect(getMetrics(ctx, url, "")).To(HaveField("Status", http.StatusUnauthorized))
		Expect(getMetrics(ctx, url, denied)).To(HaveField("Status", http.StatusForbidden))
		Eventually(ctx, func() (metricsResponse, error) {
			return getMetrics(ctx, url, scraper)
		}).WithTimeout(time.Minute).Should(And(
			HaveField("Status", http.StatusOK),
			HaveField("Body", ContainSubstring("connectivity_operator_cloudflare_api_requests_total")),
		))
	}, SpecTimeout(2*time.Minute))

	It("deletes the samples with kubectl: one delete per service, Orphan services stay", func(ctx SpecContext) {
		mark, err := api.mark()
		Expect(err).NotTo(HaveOccurred())
		_, err = kubectl(ctx, "delete", "connectivityservices", "--all", "-n", samplesNamespace, "--timeout=2m")
		Expect(err).NotTo(HaveOccurred())
		var left v1alpha1.ConnectivityServiceList
		Expect(k8s.List(ctx, &left, client.InNamespace(samplesNamespace))).To(Succeed())
		Expect(left.Items).To(BeEmpty())

		var deleted int
		orphans := map[string]string{}
		for _, s := range samples {
			if s.orphan() {
				orphans[s.remoteName()] = remoteIDs[s.remoteName()]
			} else {
				deleted++
			}
		}
		Expect(api.services(sampleAccountID)).To(HaveLen(len(orphans)))
		remote, err := api.servicesByName(sampleAccountID)
		Expect(err).NotTo(HaveOccurred())
		for name, id := range orphans {
			Expect(remote).To(HaveKeyWithValue(name, HaveField("ID", id)), "Orphan service %q stays", name)
		}
		Consistently(ctx, func() (callCount, error) {
			return api.callsSince(mark, sampleAccountID, cffake.RouteDelete)
		}).WithTimeout(settle).WithPolling(500 * time.Millisecond).Should(Equal(callCount{deleted, deleted}))
		printCalls(mark)

		By("deleting the tunnel and the accounts too: the tunnel goes from the fake")
		tunnels := sampleTunnelIDs(ctx)
		_, err = kubectl(ctx, "delete", "-n", samplesNamespace, "-k", samplesDir, "--ignore-not-found", "--timeout=1m")
		Expect(err).NotTo(HaveOccurred())
		for name, id := range tunnels {
			remote, found, err := api.tunnel(sampleAccountID, id)
			Expect(err).NotTo(HaveOccurred())
			Expect(found).To(BeTrue(), "CloudflareTunnel %s: no tunnel %s in the fake", name, id)
			Expect(remote.DeletedAt).NotTo(BeNil(), "CloudflareTunnel %s: tunnel %s was not deleted", name, id)
		}
	}, SpecTimeout(4*time.Minute))

	It("keeps exactly one service per object when the manager is SIGKILLed during a burst of creates",
		func(ctx SpecContext) {
			By("creating a second account, its Secret (in the cluster resource namespace) and namespace")
			Expect(createNamespace(ctx, burstNamespace)).To(Succeed())
			Expect(createTokenSecret(ctx, operator.namespace, burstAccount+"-credentials", burstToken)).To(Succeed())
			_, err := kubectlWithInput(ctx, burstAccountManifest(), "apply", "-f", "-")
			Expect(err).NotTo(HaveOccurred())
			_, err = kubectl(ctx, "wait", "--for=condition=Ready", "clustercloudflareaccount/"+burstAccount, "--timeout=60s")
			Expect(err).NotTo(HaveOccurred())

			mark, err := api.mark()
			Expect(err).NotTo(HaveOccurred())
			By(fmt.Sprintf("making the first %d creates commit but never answer (a create whose outcome is unknown)",
				hungCreates))
			Expect(api.failNext(cffake.RouteCreate, hungCreates, cffake.AdminFault{Commit: true, Hang: "5m"})).To(Succeed())
			By(fmt.Sprintf("applying %d services and SIGKILLing the manager after %d creates", burstSize, killAfterCreates))
			_, err = kubectlWithInput(ctx, burstManifest(), "apply", "-f", "-")
			Expect(err).NotTo(HaveOccurred())
			var atKill callCount
			Eventually(ctx, func() (int, error) {
				atKill, err = api.callsSince(mark, burstAccountID, cffake.RouteCreate)
				return atKill.all, err
			}).WithTimeout(2 * time.Minute).WithPolling(10 * time.Millisecond).
				Should(BeNumerically(">=", killAfterCreates))
			manager.kill()
			Expect(api.clearFaults()).To(Succeed())
			atKill, err = api.callsSince(mark, burstAccountID, cffake.RouteCreate)
			Expect(err).NotTo(HaveOccurred())
			committed, err := api.services(burstAccountID)
			Expect(err).NotTo(HaveOccurred())
			_, _ = fmt.Fprintf(GinkgoWriter, "manager SIGKILLed after %d creates (%d answered 2xx, %d services exist)\n",
				atKill.all, atKill.ok2xx, len(committed))
			Expect(atKill.all).To(BeNumerically("<", burstSize), "the kill came too late to interrupt the burst")
			Expect(len(committed)).To(BeNumerically(">", atKill.ok2xx), "no create was cut off with its outcome unknown")

			By("starting the manager again")
			Expect(manager.start(ctx)).To(Succeed())
			Expect(waitReady(ctx, "connectivityservices", "-n", burstNamespace, "--timeout=4m")).To(Succeed())

			By("checking one service per object in the fake, and that each object holds its id")
			remote, err := api.servicesByName(burstAccountID)
			Expect(err).NotTo(HaveOccurred())
			Expect(remote).To(HaveLen(burstSize))
			var objs v1alpha1.ConnectivityServiceList
			Expect(k8s.List(ctx, &objs, client.InNamespace(burstNamespace))).To(Succeed())
			Expect(objs.Items).To(HaveLen(burstSize))
			for _, obj := range objs.Items {
				Expect(remote).To(HaveKeyWithValue(obj.Name, HaveField("ID", obj.Status.ServiceID)),
					"service of %s", obj.Name)
			}
			creates, err := api.callsSince(mark, burstAccountID, cffake.RouteCreate)
			Expect(err).NotTo(HaveOccurred())
			_, _ = fmt.Fprintf(GinkgoWriter, "creates over the burst: %d calls, %d answered 2xx\n", creates.all, creates.ok2xx)
			Expect(creates.all).To(Equal(burstSize), "a create was repeated (or one is missing)")
			Expect(creates.ok2xx).To(Equal(burstSize-hungCreates), "the hung creates were answered after all")
			Expect(api.statusCounts()).NotTo(HaveKey(http.StatusTooManyRequests))
			printCalls(mark)

			By("deleting the burst: the fake's account is empty again")
			mark, err = api.mark()
			Expect(err).NotTo(HaveOccurred())
			_, err = kubectl(ctx, "delete", "connectivityservices", "--all", "-n", burstNamespace, "--timeout=3m")
			Expect(err).NotTo(HaveOccurred())
			Expect(api.services(burstAccountID)).To(BeEmpty())
			deletes, err := api.callsSince(mark, burstAccountID, cffake.RouteDelete)
			Expect(err).NotTo(HaveOccurred())
			Expect(deletes.ok2xx).To(Equal(burstSize))
			printCalls(mark)
			_, err = kubectl(ctx, "delete", "clustercloudflareaccount", burstAccount)
			Expect(err).NotTo(HaveOccurred())
		}, SpecTimeout(8*time.Minute))
})

// parseSamples reads the ConnectivityServices out of `kubectl kustomize config/samples`.
func parseSamples(manifests string) ([]sample, error) {
	var out []sample
	reader := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(manifests)))
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		var obj unstructured.Unstructured
		if err := yaml.Unmarshal(doc, &obj.Object); err != nil || obj.GetKind() != "ConnectivityService" {
			continue
		}
		var s sample
		if err := yaml.Unmarshal(doc, &s.svc); err != nil {
			return nil, err
		}
		s.doc = string(doc)
		out = append(out, s)
	}
}

// withTunnelIDs returns the spec with each tunnelRef replaced by the id of the CloudflareTunnel it
// names, and a serviceRef by the host and port it stands for: what the operator sends to Cloudflare.
func withTunnelIDs(ctx context.Context, namespace string,
	spec v1alpha1.ConnectivityServiceSpec) v1alpha1.ConnectivityServiceSpec {
	GinkgoHelper()
	resolved := spec.DeepCopy()
	idOf := func(ref *v1alpha1.TunnelReference) string {
		var t v1alpha1.CloudflareTunnel
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: namespace, Name: ref.Name}, &t)).To(Succeed())
		Expect(t.Status.TunnelID).NotTo(BeEmpty(), "CloudflareTunnel %s/%s has no tunnel id", namespace, ref.Name)
		return t.Status.TunnelID
	}
	if n := resolved.Host.Network; n != nil && n.TunnelRef != nil {
		n.TunnelID = idOf(n.TunnelRef)
	}
	if n := resolved.Host.ResolverNetwork; n != nil && n.TunnelRef != nil {
		n.TunnelID = idOf(n.TunnelRef)
	}
	if ref := resolved.Host.ServiceRef; ref != nil {
		withService(ctx, namespace, resolved, ref)
	}
	return *resolved
}

// withService fills in the host and port a serviceRef stands for, from the Service, as a person
// would work them out: the cluster DNS name (or the cluster IP) and the named or numbered port.
// The e2e cluster has no kube-dns Service, so no resolver IPs are expected.
func withService(ctx context.Context, namespace string, spec *v1alpha1.ConnectivityServiceSpec,
	ref *v1alpha1.ServiceReference) {
	GinkgoHelper()
	var svc corev1.Service
	Expect(k8s.Get(ctx, client.ObjectKey{Namespace: namespace, Name: ref.Name}, &svc)).To(Succeed())
	if ref.Address == v1alpha1.ServiceAddressClusterIP {
		spec.Host.IPv4 = svc.Spec.ClusterIP
	} else {
		spec.Host.Hostname = ref.Name + "." + namespace + ".svc.cluster.local"
	}
	for _, p := range svc.Spec.Ports {
		if p.Name != ref.Port.String() && strconv.Itoa(int(p.Port)) != ref.Port.String() {
			continue
		}
		port := p.Port
		switch {
		case spec.Type == v1alpha1.ServiceTypeTCP && spec.TCPPort == nil:
			spec.TCPPort = &port
		case spec.Type == v1alpha1.ServiceTypeHTTP && spec.HTTPPort == nil && spec.HTTPSPort == nil:
			spec.HTTPPort = &port
		}
	}
}

// sampleTunnelIDs returns the tunnel id of each CloudflareTunnel of the samples, by name.
func sampleTunnelIDs(ctx context.Context) map[string]string {
	GinkgoHelper()
	var list v1alpha1.CloudflareTunnelList
	Expect(k8s.List(ctx, &list, client.InNamespace(samplesNamespace))).To(Succeed())
	ids := map[string]string{}
	for _, t := range list.Items {
		Expect(t.Status.TunnelID).NotTo(BeEmpty(), "CloudflareTunnel %s has no tunnel id", t.Name)
		ids[t.Name] = t.Status.TunnelID
	}
	return ids
}

// waitReady waits with kubectl for every object of the resources to be Ready, and on failure
// returns the status table with the error.
func waitReady(ctx context.Context, resources string, scope ...string) error {
	args := append([]string{"wait", "--for=condition=Ready", resources, "--all", "--timeout=2m"}, scope...)
	if _, err := kubectl(ctx, args...); err != nil {
		table, _ := kubectl(ctx, "get", "cloudflare", "--all-namespaces", "-o", "wide")
		return fmt.Errorf("%w\n%s", err, table)
	}
	return nil
}

func getService(ctx context.Context, namespace, name string) v1alpha1.ConnectivityService {
	GinkgoHelper()
	var obj v1alpha1.ConnectivityService
	Expect(k8s.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &obj)).To(Succeed())
	return obj
}

// matchesSpec compares what the fake holds with the spec, field by field as the API names them.
func matchesSpec(spec v1alpha1.ConnectivityServiceSpec, r cffake.Service) error {
	var errs []error
	check := func(field string, want, got any) {
		if fmt.Sprint(want) != fmt.Sprint(got) {
			errs = append(errs, fmt.Errorf("%s: want %v, got %v", field, want, got))
		}
	}
	check("type", spec.Type, r.Type)
	check("host.ipv4", spec.Host.IPv4, r.Host.IPv4)
	check("host.ipv6", normalIP(spec.Host.IPv6), normalIP(r.Host.IPv6))
	check("host.hostname", spec.Host.Hostname, r.Host.Hostname)
	if n := spec.Host.Network; n != nil {
		check("host.network", n.TunnelID, tunnelOf(r.Host.Network))
	}
	if rn := spec.Host.ResolverNetwork; rn != nil {
		var got []string
		if r.Host.ResolverNetwork != nil {
			check("host.resolver_network", rn.TunnelID, r.Host.ResolverNetwork.TunnelID)
			got = r.Host.ResolverNetwork.ResolverIPs
		}
		check("host.resolver_network.resolver_ips", sortedIPs(rn.ResolverIPs), sortedIPs(got))
	}
	checkPort := func(field string, want, got *int32) {
		if want != nil {
			check(field, *want, deref(got))
		}
	}
	checkPort("http_port", spec.HTTPPort, r.HTTPPort)
	checkPort("https_port", spec.HTTPSPort, r.HTTPSPort)
	checkPort("tcp_port", spec.TCPPort, r.TCPPort)
	check("app_protocol", spec.AppProtocol, r.AppProtocol)
	wantTLS, gotTLS := string(v1alpha1.CertVerifyFull), string(v1alpha1.CertVerifyFull)
	if spec.TLSSettings != nil {
		wantTLS = string(spec.TLSSettings.CertVerificationMode)
	}
	if r.TLSSettings != nil {
		gotTLS = r.TLSSettings.CertVerificationMode
	}
	check("tls_settings.cert_verification_mode", wantTLS, gotTLS)
	return errors.Join(errs...)
}

func tunnelOf(n *cffake.Network) string {
	if n == nil {
		return ""
	}
	return n.TunnelID
}

func deref(p *int32) any {
	if p == nil {
		return "<absent>"
	}
	return *p
}

func normalIP(s string) string {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.String()
	}
	return s
}

func sortedIPs(ips []string) []string {
	out := make([]string, 0, len(ips))
	for _, ip := range ips {
		out = append(out, normalIP(ip))
	}
	slices.Sort(out)
	return out
}

// burstAccountManifest is the ClusterCloudflareAccount of the crash test. Its secretRef names no
// namespace, so the manager's --cluster-resource-namespace applies.
func burstAccountManifest() string {
	return fmt.Sprintf(`apiVersion: connectivity.workersvpc.dev/v1alpha1
kind: ClusterCloudflareAccount
metadata:
  name: %s
spec:
  accountID: %s
  secretRef:
    name: %s-credentials
`, burstAccount, burstAccountID, burstAccount)
}

// burstManifest is burstSize HTTP services of the crash test's account, in one document stream.
func burstManifest() string {
	var b bytes.Buffer
	for i := range burstSize {
		_, _ = fmt.Fprintf(&b, `---
apiVersion: connectivity.workersvpc.dev/v1alpha1
kind: ConnectivityService
metadata:
  name: burst-%02d
  namespace: %s
spec:
  type: http
  host:
    ipv4: 10.1.0.%d
    network:
      tunnelID: %s
  accountRef:
    kind: ClusterCloudflareAccount
    name: %s
`, i, burstNamespace, i+1, tunnelID, burstAccount)
	}
	return b.String()
}

// metricsResponse is the outcome of one GET /metrics.
type metricsResponse struct {
	Status int
	Body   string
}

func getMetrics(ctx context.Context, url, token string) (metricsResponse, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return metricsResponse{}, err
	}
	if token = strings.TrimSpace(token); token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	// The manager serves metrics with a self-signed certificate.
	httpClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // self-signed, local
	}}
	resp, err := httpClient.Do(req)
	if err != nil {
		return metricsResponse{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	return metricsResponse{Status: resp.StatusCode, Body: string(body)}, err
}

// printCalls writes the calls since mark, by account, route and status, to the spec's output.
func printCalls(mark int) {
	log, err := api.requests()
	if err != nil {
		return
	}
	counts := map[string]int{}
	for _, r := range log[min(mark, len(log)):] {
		counts[fmt.Sprintf("%s %s %d", r.AccountID, r.Route, r.Status)]++
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		_, _ = fmt.Fprintf(GinkgoWriter, "  calls: %-60s %d\n", k, counts[k])
	}
}

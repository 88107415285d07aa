package controller_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/config"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	"github.com/workersvpc/connectivity-operator/internal/account"
	"github.com/workersvpc/connectivity-operator/internal/cloudflare/cloudflaretest"
	"github.com/workersvpc/connectivity-operator/internal/controller"
	"github.com/workersvpc/connectivity-operator/internal/metrics"
	"github.com/workersvpc/connectivity-operator/internal/ratelimit"
	"github.com/workersvpc/connectivity-operator/internal/secretwatch"
	"github.com/workersvpc/connectivity-operator/internal/testutil"
	testenv "github.com/workersvpc/connectivity-operator/internal/testutil/envtest"
)

// Suite-wide timings: a resync of seconds so drift and steady state can be seen in a test.
const (
	resyncInterval = 2 * time.Second
	apiTimeout     = 2 * time.Second
	tunnelID       = "0191dce4-9ab4-7fce-b660-8e5dec5172da"
	// clusterNamespace is the manager's --cluster-resource-namespace in the suite.
	clusterNamespace = "operator-system"
)

var (
	testEnv   *testenv.Environment
	cfg       *rest.Config
	k8s       client.Client // direct client: assertions never read the manager's cache
	scheme    = testenv.NewScheme()
	api       *cloudflaretest.Server
	apiServer *httptest.Server
	logs      = &syncBuffer{}
	// limits is the suite's budget per credential: generous by default, so that only the specs
	// that set an account's rateLimit are slowed. It outlives manager restarts.
	limits = ratelimit.NewRegistry(30000, 200)
	// metricsAddr is where the manager serves /metrics (plain HTTP in the suite).
	metricsAddr string
	mgrStop     context.CancelFunc
	mgrDone     chan struct{}
	// failStatusPatch, when set to an object name, fails that object's next status patch that
	// records a service id: the write after a successful create.
	failStatusPatch atomic.Value
)

func TestControllers(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Controller Suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(io.MultiWriter(GinkgoWriter, logs)), zap.UseDevMode(true), zap.Level(zapcore.Level(-1))))
	var err error
	testEnv, err = testenv.Start(testenv.Options{APIServerFlags: map[string]string{
		// Dual-stack Services, for serviceRef with address ClusterIP.
		"service-cluster-ip-range": "10.0.0.0/24,fd00:10:96::/112",
	}})
	Expect(err).NotTo(HaveOccurred())
	cfg, k8s = testEnv.Config, testEnv.Client
	Expect(k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: clusterNamespace}})).To(Succeed())

	metricsAddr = freeAddr()
	api = cloudflaretest.NewServer()
	apiServer = httptest.NewServer(api)
	startManager()
})

var _ = AfterSuite(func() {
	stopManager()
	apiServer.Close()
	Expect(testEnv.Stop()).To(Succeed())
})

// startManager runs the real manager, wired as main wires it, against envtest and the fake API.
func startManager() {
	mgrStop, mgrDone = runManager(metricsAddr)
}

// runManager starts one manager, serving metrics on metricsBind ("0": none), and returns what
// stops it and what is closed once it has stopped.
func runManager(metricsBind string) (context.CancelFunc, chan struct{}) {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:    scheme,
		Metrics:   metricsserver.Options{BindAddress: metricsBind},
		NewClient: newInterceptedClient,
		Cache:     cache.Options{ByObject: controller.CacheByObject()},
		// A restarted manager registers the same controller names again.
		Controller: config.Controller{SkipNameValidation: new(true)},
	})
	Expect(err).NotTo(HaveOccurred())
	metaClient, err := metadata.NewForConfig(cfg)
	Expect(err).NotTo(HaveOccurred())
	metrics.Register(mgr.GetClient(), limits.OpenCircuits)
	secrets := secretwatch.New(metaClient)
	Expect(mgr.Add(secrets)).To(Succeed())
	Expect(controller.Setup(mgr, controller.Config{
		Accounts: &account.Resolver{
			Client: mgr.GetClient(), SecretReader: mgr.GetAPIReader(), ClusterResourceNamespace: clusterNamespace,
		},
		ClientFor: controller.NewClientFor(controller.ClientOptions{
			BaseURL: apiServer.URL + "/client/v4", Timeout: apiTimeout, Limits: limits, Observer: metrics.API{},
		}),
		ResyncInterval:          resyncInterval,
		AccountVerifyInterval:   time.Minute,
		MaxConcurrentReconciles: 4,
		Secrets:                 secrets,
		ReservationNamespace:    clusterNamespace,
		TunnelHealthPoll:        time.Second,
		DNS:                     controller.ClusterDNS{Domain: "cluster.local"},
	})).To(Succeed())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(done)
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
	return cancel, done
}

func stopManager() {
	mgrStop()
	Eventually(mgrDone, 30*time.Second).Should(BeClosed())
}

// newInterceptedClient is the manager's client, with a hook that can fail the status write that
// follows a successful create.
func newInterceptedClient(restConfig *rest.Config, options client.Options) (client.Client, error) {
	c, err := client.NewWithWatch(restConfig, options)
	if err != nil {
		return nil, err
	}
	return interceptor.NewClient(c, interceptor.Funcs{
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			if svc, ok := obj.(*v1alpha1.ConnectivityService); ok && svc.Status.ServiceID != "" &&
				failStatusPatch.CompareAndSwap(svc.Name, "") {
				return fmt.Errorf("injected failure of the status write for %s", svc.Name)
			}
			return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
		},
	}), nil
}

// tenant is one spec's world: a namespace, a Cloudflare account in the fake, its token in a
// Secret, and a CloudflareAccount object. Specs never share accounts, so call counts are exact.
type tenant struct {
	ns        string
	accountID string
	token     string
}

// newTenant makes a ready tenant and waits until its account is verified. Options change the
// CloudflareAccount before it is created.
func newTenant(ctx context.Context, opts ...func(*v1alpha1.CloudflareAccount)) *tenant {
	t := &tenant{ns: "t-" + randHex(5), accountID: randHex(16), token: "tok-" + randHex(12)}
	api.AddAccount(t.accountID)
	api.AddTunnel(t.accountID, tunnelID)
	api.AddCredential(cloudflaretest.Credential{Token: t.token, Accounts: []string{t.accountID}})
	Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: t.ns}})).To(Succeed())
	t.writeSecret(ctx, t.token)
	acct := &v1alpha1.CloudflareAccount{
		ObjectMeta: metav1.ObjectMeta{Namespace: t.ns, Name: "cf"},
		Spec: v1alpha1.CloudflareAccountSpec{
			AccountSpec: v1alpha1.AccountSpec{AccountID: t.accountID},
			SecretRef:   v1alpha1.SecretReference{Name: "cf-token"},
		},
	}
	for _, opt := range opts {
		opt(acct)
	}
	Expect(k8s.Create(ctx, acct)).To(Succeed())
	Eventually(func(g Gomega) {
		var acct v1alpha1.CloudflareAccount
		g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: t.ns, Name: "cf"}, &acct)).To(Succeed())
		g.Expect(conditionStatus(acct.Status.Conditions, v1alpha1.ConditionReady)).To(Equal("True"))
	}, 20*time.Second, 100*time.Millisecond).Should(Succeed())
	return t
}

// writeSecret creates or replaces the tenant's credentials Secret.
func (t *tenant) writeSecret(ctx context.Context, token string) {
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: t.ns, Name: "cf-token"}}
	_, err := ctrl.CreateOrUpdate(ctx, k8s, secret, func() error {
		secret.Data = map[string][]byte{account.KeyAPIToken: []byte(token)}
		return nil
	})
	Expect(err).NotTo(HaveOccurred())
}

// service returns a valid http ConnectivityService of this tenant.
func (t *tenant) service(name string) *v1alpha1.ConnectivityService {
	return &v1alpha1.ConnectivityService{
		ObjectMeta: metav1.ObjectMeta{Namespace: t.ns, Name: name},
		Spec: v1alpha1.ConnectivityServiceSpec{
			Type:       v1alpha1.ServiceTypeHTTP,
			Host:       v1alpha1.ServiceHost{IPv4: "10.0.0.5", Network: &v1alpha1.Network{TunnelID: tunnelID}},
			AccountRef: &v1alpha1.AccountReference{Kind: v1alpha1.AccountKindNamespaced, Name: "cf"},
		},
	}
}

// count is the number of calls of a route this tenant's account received.
func (t *tenant) count(route cloudflaretest.Route) int { return api.CountFor(t.accountID, route) }

// remote returns the fake's services of this tenant's account.
func (t *tenant) remote() []cloudflaretest.Service { return api.Services(t.accountID) }

// get reads an object through the direct client.
func get(ctx context.Context, g Gomega, obj *v1alpha1.ConnectivityService) *v1alpha1.ConnectivityService {
	out := &v1alpha1.ConnectivityService{}
	g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(obj), out)).To(Succeed())
	return out
}

// expectReady waits until the object is Ready for its current generation and returns it.
func expectReady(ctx context.Context, obj *v1alpha1.ConnectivityService) *v1alpha1.ConnectivityService {
	var out *v1alpha1.ConnectivityService
	Eventually(func(g Gomega) {
		out = get(ctx, g, obj)
		g.Expect(conditionStatus(out.Status.Conditions, v1alpha1.ConditionReady)).To(Equal("True"), "conditions: %+v", out.Status.Conditions)
		g.Expect(out.Status.ObservedGeneration).To(Equal(out.Generation))
	}, 30*time.Second, 100*time.Millisecond).Should(Succeed())
	return out
}

// expectCondition waits until the object has the condition with this status and reason.
func expectCondition(ctx context.Context, obj *v1alpha1.ConnectivityService, condType, status, reason string) *v1alpha1.ConnectivityService {
	var out *v1alpha1.ConnectivityService
	Eventually(func(g Gomega) {
		out = get(ctx, g, obj)
		c := meta.FindStatusCondition(out.Status.Conditions, condType)
		g.Expect(c).NotTo(BeNil(), "conditions: %+v", out.Status.Conditions)
		g.Expect(string(c.Status)).To(Equal(status))
		g.Expect(c.Reason).To(Equal(reason))
	}, 30*time.Second, 100*time.Millisecond).Should(Succeed())
	return out
}

func conditionStatus(conds []metav1.Condition, condType string) string { //nolint:unparam // reads like the condition it checks
	if c := meta.FindStatusCondition(conds, condType); c != nil {
		return string(c.Status)
	}
	return ""
}

// syncBuffer collects every log line of the suite, to search for leaked secrets.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newTenantNamespace makes another namespace. Given a tenant, it also gets a CloudflareAccount
// "cf" for the same Cloudflare account and token, so two namespaces share one account.
func newTenantNamespace(ctx context.Context, same *tenant) string {
	ns := "t-" + randHex(5)
	Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	if same == nil {
		return ns
	}
	twin := &tenant{ns: ns, accountID: same.accountID, token: same.token}
	twin.writeSecret(ctx, same.token)
	Expect(k8s.Create(ctx, &v1alpha1.CloudflareAccount{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "cf"},
		Spec: v1alpha1.CloudflareAccountSpec{
			AccountSpec: v1alpha1.AccountSpec{AccountID: same.accountID},
			SecretRef:   v1alpha1.SecretReference{Name: "cf-token"},
		},
	})).To(Succeed())
	return ns
}

// expectEvent waits for an event with this reason in the namespace.
func expectEvent(ctx context.Context, ns, reason string) {
	Eventually(func(g Gomega) {
		var list eventsv1.EventList
		g.Expect(k8s.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
		reasons := make([]string, 0, len(list.Items))
		for _, e := range list.Items {
			reasons = append(reasons, e.Reason)
		}
		g.Expect(reasons).To(ContainElement(reason))
	}, 20*time.Second, 200*time.Millisecond).Should(Succeed())
}

// updateSpec changes an object's spec through the direct client, retrying on conflicts with the
// operator's own writes.
func updateSpec(ctx context.Context, obj *v1alpha1.ConnectivityService, mutate func(*v1alpha1.ConnectivityService)) {
	Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		latest := &v1alpha1.ConnectivityService{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(obj), latest); err != nil {
			return err
		}
		mutate(latest)
		return k8s.Update(ctx, latest)
	})).To(Succeed())
}

// randHex is testutil.RandomHex, short for the many names the specs make.
func randHex(n int) string { return testutil.RandomHex(n) }

// freeAddr is testutil.FreeAddr, failing the spec when no port is free.
func freeAddr() string {
	addr, err := testutil.FreeAddr()
	Expect(err).NotTo(HaveOccurred())
	return addr
}

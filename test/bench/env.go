package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	"github.com/workersvpc/connectivity-operator/internal/cloudflare/cloudflaretest"
	"github.com/workersvpc/connectivity-operator/internal/ownership"
	"github.com/workersvpc/connectivity-operator/internal/testutil"
	testenv "github.com/workersvpc/connectivity-operator/internal/testutil/envtest"
)

const (
	// operatorNamespace holds the Secrets of the ClusterCloudflareAccounts.
	operatorNamespace = "connectivity-operator-system"
	// defaultSecret is the Secret of the ClusterCloudflareAccount named default.
	defaultSecret = "cloudflare-credentials"
	// tokenKey is the Secret key that holds an API token.
	tokenKey = "apiToken"
	// tunnelID is the tunnel every benchmark service points at.
	tunnelID = "0191dce4-9ab4-7fce-b660-8e5dec5172da"
	// leaderElectionID is the manager's leader election Lease (cmd/main.go).
	leaderElectionID = "connectivity-operator.workersvpc.dev"
)

// benchEnv is the control plane, the fake API and the benchmark's clients of the control plane.
type benchEnv struct {
	testEnv *testenv.Environment
	k8s     client.Client
	// watched is an informer cache of the ConnectivityServices, which readiness is polled from;
	// stopWatching stops it.
	watched      cache.Cache
	stopWatching context.CancelFunc
	// metrics reads the API server's /metrics at host (see apiwrites.go).
	metrics    *http.Client
	host       string
	api        *cloudflaretest.Server
	apiServer  *httptest.Server
	kubeconfig string
}

// startEnv starts envtest with the CRDs and the fake API, connects to the control plane, writes
// an admin kubeconfig, and creates the operator namespace with the default account.
func startEnv(ctx context.Context, crdDir string) (*benchEnv, error) {
	fmt.Println("starting envtest control plane and fake Cloudflare API")
	// The CRDs of -crds only (config/crd/bases by default, relative to the working directory).
	testEnv, err := testenv.Start(testenv.Options{NoProjectCRDs: true, CRDDirs: []string{crdDir}})
	if err != nil {
		return nil, err
	}
	env := &benchEnv{testEnv: testEnv}
	env.api = cloudflaretest.NewServer()
	env.apiServer = httptest.NewServer(env.api)
	err = env.connect(ctx, testEnv.Config, testEnv.Scheme)
	if err == nil {
		env.kubeconfig, err = writeKubeconfig(env.testEnv)
	}
	if err == nil {
		err = env.createDefaultAccount(ctx)
	}
	if err != nil {
		env.stop()
		return nil, err
	}
	return env, nil
}

// connect makes the benchmark's client, its cache of the objects and its /metrics client. None
// is throttled on the client side: the benchmark's own creates and reads must never be what
// limits a scenario.
func (e *benchEnv) connect(ctx context.Context, cfg *rest.Config, scheme *k8sruntime.Scheme) error {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = -1, 0
	var err error
	if e.k8s, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		return err
	}
	if e.metrics, err = rest.HTTPClientFor(cfg); err != nil {
		return err
	}
	e.host = cfg.Host
	e.watched, e.stopWatching, err = watchServices(ctx, cfg, scheme)
	return err
}

// watchServices starts an informer cache of every ConnectivityService and waits for its first
// list. It strips managed fields, which the benchmark never reads.
func watchServices(ctx context.Context, cfg *rest.Config, scheme *k8sruntime.Scheme) (
	cache.Cache, context.CancelFunc, error) {
	c, err := cache.New(cfg, cache.Options{Scheme: scheme, DefaultTransform: cache.TransformStripManagedFields()})
	if err != nil {
		return nil, nil, err
	}
	if _, err := c.GetInformer(ctx, &v1alpha1.ConnectivityService{}); err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		cancel()
		return nil, nil, errors.New("the cache of ConnectivityServices did not sync")
	}
	return c, cancel, nil
}

// stop tears everything down; it is safe on a partly started environment.
func (e *benchEnv) stop() {
	if e.stopWatching != nil {
		e.stopWatching()
	}
	if e.apiServer != nil {
		e.apiServer.Close()
	}
	if e.kubeconfig != "" {
		_ = os.Remove(e.kubeconfig)
	}
	if err := e.testEnv.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "bench: stopping envtest:", err)
	}
}

// apiURL is the fake's base URL as the manager's --cloudflare-api-url.
func (e *benchEnv) apiURL() string {
	return e.apiServer.URL + "/client/v4"
}

// writeKubeconfig writes an admin kubeconfig for the envtest API server to a temporary file.
func writeKubeconfig(testEnv *testenv.Environment) (string, error) {
	_, data, err := testEnv.AddAdmin("bench")
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp("", "bench-kubeconfig-*")
	if err != nil {
		return "", err
	}
	_, err = f.Write(data)
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	return f.Name(), err
}

// createDefaultAccount creates the operator namespace, the Secret cloudflare-credentials and the
// ClusterCloudflareAccount named default, with an account and token the fake knows.
func (e *benchEnv) createDefaultAccount(ctx context.Context) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}}
	if err := e.k8s.Create(ctx, ns); err != nil {
		return fmt.Errorf("create namespace: %w", err)
	}
	_, err := e.addAccount(ctx, v1alpha1.DefaultClusterAccountName, defaultSecret)
	return err
}

// benchAccount is one Cloudflare account of the fake with its token, the ClusterCloudflareAccount
// that points at it, and the namespace of the scenario's objects that use it.
type benchAccount struct {
	id        string
	token     string
	object    string
	secret    string
	namespace string
}

// addAccount registers a fresh account id and token in the fake, with the benchmark tunnel, and
// creates its Secret and ClusterCloudflareAccount.
func (e *benchEnv) addAccount(ctx context.Context, name, secretName string) (*benchAccount, error) {
	acct := &benchAccount{id: testutil.RandomHex(16), token: testutil.RandomHex(20), object: name, secret: secretName}
	e.api.AddCredential(cloudflaretest.Credential{Token: acct.token, Accounts: []string{acct.id}})
	e.api.AddTunnel(acct.id, tunnelID)
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: secretName, Namespace: operatorNamespace},
		StringData: map[string]string{tokenKey: acct.token},
	}
	if err := e.k8s.Create(ctx, secret); err != nil {
		return nil, fmt.Errorf("create secret %s: %w", secretName, err)
	}
	obj := &v1alpha1.ClusterCloudflareAccount{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.ClusterCloudflareAccountSpec{
			AccountSpec: v1alpha1.AccountSpec{AccountID: acct.id},
			SecretRef:   v1alpha1.ClusterSecretReference{Name: secretName, Namespace: operatorNamespace},
		},
	}
	if err := e.k8s.Create(ctx, obj); err != nil {
		return nil, fmt.Errorf("create ClusterCloudflareAccount %s: %w", name, err)
	}
	return acct, nil
}

// removeAccount deletes an account's ClusterCloudflareAccount and Secret, so that later managers
// do not verify it again, and the name reservations (Leases) made in it, which would otherwise
// pile up in etcd over the scenarios.
func (e *benchEnv) removeAccount(ctx context.Context, acct *benchAccount) error {
	obj := &v1alpha1.ClusterCloudflareAccount{ObjectMeta: metav1.ObjectMeta{Name: acct.object}}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: acct.secret, Namespace: operatorNamespace}}
	return errors.Join(
		client.IgnoreNotFound(e.k8s.Delete(ctx, obj)),
		client.IgnoreNotFound(e.k8s.Delete(ctx, secret)),
		e.k8s.DeleteAllOf(ctx, &coordinationv1.Lease{}, client.InNamespace(operatorNamespace),
			client.MatchingLabels{ownership.LabelAccountID: acct.id}),
	)
}

// removeElectionLease deletes the leader election Lease a scenario with replicas leaves behind
// (the manager does not release it on shutdown), so that no later manager waits for it to expire.
func (e *benchEnv) removeElectionLease(ctx context.Context) error {
	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: leaderElectionID, Namespace: operatorNamespace}}
	return client.IgnoreNotFound(e.k8s.Delete(ctx, lease))
}

// Package e2e tests the operator as it ships: the real bin/manager binary, run as a separate
// process that authenticates as the ServiceAccount of config/default, so the shipped RBAC is what
// is exercised and a missing permission fails the suite; the fake Cloudflare API as a separate
// process (bin/fake-cloudflare-api), observed through its /_fake/ admin endpoints; and every
// change made with kubectl, as a user would.
//
// The control plane is envtest's kube-apiserver and etcd (processes started by this test). There
// is no kubelet: the operator's Deployment is applied but never runs; the manager runs next to it.
//
// Run it with `make test-e2e`, which builds the binaries and sets KUBEBUILDER_ASSETS, KUBECTL,
// KUSTOMIZE, MANAGER_BIN and FAKE_API_BIN. Logs of every process are kept in bin/e2e/ (or
// $E2E_ARTIFACTS).
package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/workersvpc/connectivity-operator/internal/testutil"
	testenv "github.com/workersvpc/connectivity-operator/internal/testutil/envtest"
)

const (
	// sampleAccountID is the account of the samples' CloudflareAccount and ClusterCloudflareAccount.
	sampleAccountID = "023e105f4ecef8ad9ca31a8372d0c353"
	// burstAccountID is a second account, used only by the crash test, so its counts stand alone.
	burstAccountID = "e2eb0000000000000000000000000042"
	// tunnelID is the tunnel of the samples; the fake knows it in both accounts.
	tunnelID = "0191dce4-9ab4-7fce-b660-8e5dec5172da"
	// credentialsSecret is the Secret name the samples' accounts refer to.
	credentialsSecret = "cloudflare-credentials"
	// samplesNamespace holds the namespaced samples.
	samplesNamespace = "e2e-samples"
)

var (
	paths    toolPaths
	testEnv  *testenv.Environment
	k8s      client.Client // admin client, for reading objects in assertions
	scheme   = testenv.NewScheme()
	admin    string // admin kubeconfig (kubectl)
	api      *fakeAPI
	operator installation
	manager  *managerRunner

	// tokens of the fake's credentials: the default ClusterCloudflareAccount's, the samples'
	// CloudflareAccount's, and the crash test account's.
	defaultToken = "e2e-token-default-" + testutil.RandomHex(8)
	teamToken    = "e2e-token-team-" + testutil.RandomHex(8)
	burstToken   = "e2e-token-burst-" + testutil.RandomHex(8)
)

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "connectivity-operator end-to-end suite")
}

var _ = BeforeSuite(func(ctx SpecContext) {
	var err error
	paths, err = findTools()
	Expect(err).NotTo(HaveOccurred())
	By("keeping every process's log in " + paths.artifacts)

	By("starting the control plane (envtest kube-apiserver and etcd)")
	apiServerLog, err := os.Create(filepath.Join(paths.artifacts, "kube-apiserver.log"))
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(apiServerLog.Close)
	// No CRDs: the suite installs them with the operator's manifests, as a user would.
	testEnv, err = testenv.Start(testenv.Options{NoProjectCRDs: true, APIServerLog: apiServerLog})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() {
		By("stopping the control plane")
		Expect(testEnv.Stop()).To(Succeed())
	})
	adminConfig, data, err := testEnv.AddAdmin("e2e-admin")
	Expect(err).NotTo(HaveOccurred())
	admin = filepath.Join(paths.artifacts, "admin.kubeconfig")
	Expect(os.WriteFile(admin, data, 0o600)).To(Succeed())
	k8s, err = client.New(adminConfig, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	By("starting the fake Cloudflare API as a process")
	api, err = startFakeAPI(ctx, []string{sampleAccountID, burstAccountID}, []string{tunnelID},
		[]string{defaultToken, teamToken, burstToken})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() {
		By("stopping the fake Cloudflare API")
		Expect(api.proc.stop(10 * time.Second)).To(Succeed())
	})

	By("installing the operator's manifests (kustomize build config/default, or $E2E_MANIFESTS) with kubectl apply")
	operator, err = install(ctx)
	Expect(err).NotTo(HaveOccurred())
	_, _ = fmt.Fprintf(GinkgoWriter, "operator: ServiceAccount %s/%s, args %v\n",
		operator.namespace, operator.serviceAccount, operator.args)

	By("writing a kubeconfig that authenticates as ServiceAccount " + operator.serviceAccount)
	saKubeconfig, err := serviceAccountKubeconfig(ctx, operator.namespace, operator.serviceAccount, "operator")
	Expect(err).NotTo(HaveOccurred())

	By("creating the Secrets the samples' accounts read")
	Expect(createNamespace(ctx, samplesNamespace)).To(Succeed())
	Expect(createTokenSecret(ctx, operator.namespace, credentialsSecret, defaultToken)).To(Succeed())
	Expect(createTokenSecret(ctx, samplesNamespace, credentialsSecret, teamToken)).To(Succeed())

	By("starting bin/manager as a process with that kubeconfig")
	manager = newManagerRunner(saKubeconfig)
	Expect(manager.start(ctx)).To(Succeed())
	DeferCleanup(func() {
		By("stopping the manager")
		Expect(manager.stop()).To(Succeed())
	})
}, NodeTimeout(5*time.Minute))

package secretwatch_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/workersvpc/connectivity-operator/internal/secretwatch"
	testenv "github.com/workersvpc/connectivity-operator/internal/testutil/envtest"
)

// eventTimeout bounds how long a spec waits for an event; the Watcher promises seconds.
const eventTimeout = 10 * time.Second

var (
	testEnv   *testenv.Environment
	cfg       *rest.Config
	k8sClient client.Client
)

func TestSecretWatch(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "secretwatch suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))

	// No CRDs: the Watcher only deals with Secrets.
	var err error
	testEnv, err = testenv.Start(testenv.Options{NoProjectCRDs: true})
	Expect(err).NotTo(HaveOccurred())
	cfg = testEnv.Config
	// The admin client that plays the user changing Secrets; it bypasses any cache.
	k8sClient = testEnv.Client
})

var _ = AfterSuite(func() {
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// newNamespace creates a namespace of the spec's own.
func newNamespace() string {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "secretwatch-"}}
	Expect(k8sClient.Create(context.Background(), ns)).To(Succeed())
	return ns.Name
}

// newWatcher returns a Watcher that talks to the API server as restCfg, with one subscription.
func newWatcher(restCfg *rest.Config) (*secretwatch.Watcher, <-chan event.GenericEvent) {
	GinkgoHelper()
	mc, err := metadata.NewForConfig(restCfg)
	Expect(err).NotTo(HaveOccurred())
	w := secretwatch.New(mc)
	return w, w.Subscribe()
}

// start runs w until the spec ends, and checks that Start returns once its context is done.
func start(w *secretwatch.Watcher) {
	GinkgoHelper()
	ctx, cancel := context.WithCancel(ctrl.LoggerInto(context.Background(), GinkgoLogr))
	done := make(chan error, 1)
	go func() { done <- w.Start(ctx) }()
	DeferCleanup(func() {
		cancel()
		Eventually(done).WithTimeout(eventTimeout).Should(Receive(BeNil()))
	})
}

// expectEvent waits for the next event and checks that it is about secret.
func expectEvent(events <-chan event.GenericEvent, secret types.NamespacedName) {
	GinkgoHelper()
	var ev event.GenericEvent
	Eventually(events).WithTimeout(eventTimeout).Should(Receive(&ev))
	Expect(client.ObjectKeyFromObject(ev.Object)).To(Equal(secret))
}

// expectNoEvent checks that no event arrives for a while.
func expectNoEvent(events <-chan event.GenericEvent, d time.Duration) {
	GinkgoHelper()
	Consistently(events).WithTimeout(d).ShouldNot(Receive())
}

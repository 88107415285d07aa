package secretwatch_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/workersvpc/connectivity-operator/internal/secretwatch"
)

// quiet is how long a spec waits to be sure no event comes.
const quiet = time.Second

var _ = Describe("Watcher", func() {
	var (
		ctx    context.Context
		ns     string
		w      *secretwatch.Watcher
		events <-chan event.GenericEvent
	)

	BeforeEach(func() {
		ctx = context.Background()
		ns = newNamespace()
		w, events = newWatcher(cfg)
	})

	key := func(name string) types.NamespacedName {
		return types.NamespacedName{Namespace: ns, Name: name}
	}
	createSecret := func(name, token string) *corev1.Secret {
		GinkgoHelper()
		secret := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			StringData: map[string]string{"apiToken": token},
		}
		Expect(k8sClient.Create(ctx, secret)).To(Succeed())
		return secret
	}
	rotate := func(secret *corev1.Secret, token string) {
		GinkgoHelper()
		secret.StringData = map[string]string{"apiToken": token}
		Expect(k8sClient.Update(ctx, secret)).To(Succeed())
	}

	It("can feed a controller through source.Channel", func() {
		// Compile-time proof of the contract the controllers rely on.
		_ = source.Channel(events, &handler.EnqueueRequestForObject{})
		Expect(w.NeedLeaderElection()).To(BeFalse())
	})

	It("reports a tracked Secret created after it was tracked, before Start", func() {
		w.Track("CloudflareAccount/a", key("creds"))
		start(w)

		createSecret("creds", "t1")
		expectEvent(events, key("creds"))
	})

	It("reports an update of a tracked Secret's data", func() {
		start(w)
		w.Track("CloudflareAccount/a", key("creds"))
		secret := createSecret("creds", "t1")
		expectEvent(events, key("creds"))
		expectNoEvent(events, quiet/4)

		rotate(secret, "t2")
		expectEvent(events, key("creds"))
	})

	It("reports the deletion of a tracked Secret", func() {
		start(w)
		w.Track("CloudflareAccount/a", key("creds"))
		secret := createSecret("creds", "t1")
		expectEvent(events, key("creds"))
		expectNoEvent(events, quiet/4)

		Expect(k8sClient.Delete(ctx, secret)).To(Succeed())
		expectEvent(events, key("creds"))
	})

	It("reports an existing Secret once when it starts watching it", func() {
		createSecret("creds", "t1")
		start(w)

		w.Track("CloudflareAccount/a", key("creds"))
		expectEvent(events, key("creds"))
		expectNoEvent(events, quiet)
	})

	It("ignores a Secret that nobody tracks in the same namespace", func() {
		start(w)
		w.Track("CloudflareAccount/a", key("creds"))
		tracked := createSecret("creds", "t1")
		expectEvent(events, key("creds"))

		untracked := createSecret("other", "t1")
		rotate(untracked, "t2")
		expectNoEvent(events, quiet)

		// The watch was live all along.
		rotate(tracked, "t2")
		expectEvent(events, key("creds"))
	})

	It("stops reporting a Secret after Untrack", func() {
		start(w)
		w.Track("CloudflareAccount/a", key("creds"))
		secret := createSecret("creds", "t1")
		expectEvent(events, key("creds"))

		w.Untrack("CloudflareAccount/a")
		Expect(w.Tracked()).To(BeEmpty())
		rotate(secret, "t2")
		expectNoEvent(events, quiet)
	})

	It("moves an owner that tracks another Secret", func() {
		start(w)
		w.Track("CloudflareAccount/a", key("old"))
		old := createSecret("old", "t1")
		expectEvent(events, key("old"))

		w.Track("CloudflareAccount/a", key("new"))
		Expect(w.Tracked()).To(Equal([]types.NamespacedName{key("new")}))
		createSecret("new", "t1")
		expectEvent(events, key("new"))

		rotate(old, "t2")
		expectNoEvent(events, quiet)
	})

	It("keeps watching a shared Secret until its last owner untracks it", func() {
		start(w)
		w.Track("CloudflareAccount/a", key("creds"))
		w.Track("ClusterCloudflareAccount/b", key("creds"))
		w.Track("ClusterCloudflareAccount/b", key("creds")) // idempotent
		Expect(w.Tracked()).To(Equal([]types.NamespacedName{key("creds")}))
		secret := createSecret("creds", "t1")
		expectEvent(events, key("creds"))

		w.Untrack("CloudflareAccount/a")
		Expect(w.Tracked()).To(Equal([]types.NamespacedName{key("creds")}))
		rotate(secret, "t2")
		expectEvent(events, key("creds"))

		w.Untrack("ClusterCloudflareAccount/b")
		Expect(w.Tracked()).To(BeEmpty())
		rotate(secret, "t3")
		expectNoEvent(events, quiet)
	})

	It("gives every subscriber every event", func() {
		second := w.Subscribe()
		start(w)
		w.Track("CloudflareAccount/a", key("creds"))
		createSecret("creds", "t1")
		expectEvent(events, key("creds"))
		expectEvent(second, key("creds"))
	})

	It("lists Tracked sorted by namespace and name", func() {
		w.Track("o1", types.NamespacedName{Namespace: "b", Name: "x"})
		w.Track("o2", types.NamespacedName{Namespace: "a", Name: "y"})
		w.Track("o3", types.NamespacedName{Namespace: "a", Name: "x"})
		w.Track("o4", types.NamespacedName{}) // no Secret: nothing to track
		Expect(w.Tracked()).To(Equal([]types.NamespacedName{
			{Namespace: "a", Name: "x"}, {Namespace: "a", Name: "y"}, {Namespace: "b", Name: "x"},
		}))
	})

	It("works with an identity that may only get and watch Secrets", func() {
		user, err := testEnv.AddUser(envtest.User{Name: "secretwatch"}, nil)
		Expect(err).NotTo(HaveOccurred())
		role := &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "secretwatch"},
			Rules: []rbacv1.PolicyRule{{
				APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "watch"},
			}},
		}
		Expect(k8sClient.Create(ctx, role)).To(Succeed())
		binding := &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "secretwatch"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "secretwatch"}},
		}
		Expect(k8sClient.Create(ctx, binding)).To(Succeed())

		mc, err := metadata.NewForConfig(user.Config())
		Expect(err).NotTo(HaveOccurred())
		secrets := mc.Resource(corev1.SchemeGroupVersion.WithResource("secrets")).Namespace(ns)
		By("waiting until the API server applies the binding")
		Eventually(func(g Gomega) {
			_, err := secrets.Get(ctx, "creds", metav1.GetOptions{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "get: %v", err)
		}).WithTimeout(eventTimeout).Should(Succeed())

		By("showing the identity cannot list Secrets, not even by name")
		_, err = secrets.List(ctx, metav1.ListOptions{})
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "list: %v", err)
		_, err = secrets.List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=creds"})
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "list by name: %v", err)

		By("watching the Secret as that identity")
		restricted, restrictedEvents := newWatcher(user.Config())
		start(restricted)
		restricted.Track("CloudflareAccount/a", key("creds"))
		secret := createSecret("creds", "t1")
		expectEvent(restrictedEvents, key("creds"))
		rotate(secret, "t2")
		expectEvent(restrictedEvents, key("creds"))
	})
})

package secretwatch_test

import (
	"context"
	"net/http"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/metadata"

	"github.com/workersvpc/connectivity-operator/internal/secretwatch"
)

// fakeClient is a metadata client whose watches a spec drives by hand, to reproduce what a real
// API server does rarely and on its own schedule: close a watch, expire a resourceVersion.
type fakeClient struct {
	calls chan watchCall
}

// watchCall is one Watch request the Watcher made, with the stream the spec feeds it.
type watchCall struct {
	resource  schema.GroupVersionResource
	namespace string
	opts      metav1.ListOptions
	ctx       context.Context
	stream    *watch.FakeWatcher
}

func (c *fakeClient) Resource(gvr schema.GroupVersionResource) metadata.Getter {
	return &fakeResource{client: c, resource: gvr}
}

// fakeResource implements Watch only; any other call (List above all) hits the nil embedded
// interface and panics, failing the suite.
type fakeResource struct {
	metadata.ResourceInterface
	client    *fakeClient
	resource  schema.GroupVersionResource
	namespace string
}

func (r *fakeResource) Namespace(ns string) metadata.ResourceInterface {
	return &fakeResource{client: r.client, resource: r.resource, namespace: ns}
}

func (r *fakeResource) Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	stream := watch.NewFakeWithChanSize(8, false)
	r.client.calls <- watchCall{resource: r.resource, namespace: r.namespace, opts: opts, ctx: ctx, stream: stream}
	return stream, nil
}

var _ = Describe("Watcher re-opening watches", func() {
	It("resumes a closed watch, starts afresh after 410 Gone, and stops on Untrack", func() {
		fc := &fakeClient{calls: make(chan watchCall, 16)}
		w := secretwatch.New(fc)
		events := w.Subscribe()
		start(w)
		secret := types.NamespacedName{Namespace: "team-a", Name: "creds"}
		w.Track("CloudflareAccount/team-a/a", secret)

		nextWatch := func() watchCall {
			GinkgoHelper()
			var call watchCall
			Eventually(fc.calls).WithTimeout(eventTimeout).Should(Receive(&call))
			return call
		}
		meta := func(resourceVersion string) *metav1.PartialObjectMetadata {
			return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
				Namespace: secret.Namespace, Name: secret.Name, ResourceVersion: resourceVersion,
			}}
		}

		By("opening a fresh, metadata-only watch narrowed to the Secret's name")
		first := nextWatch()
		Expect(first.resource).To(Equal(corev1.SchemeGroupVersion.WithResource("secrets")))
		Expect(first.namespace).To(Equal("team-a"))
		Expect(first.opts).To(Equal(metav1.ListOptions{FieldSelector: "metadata.name=creds", AllowWatchBookmarks: true}))
		first.stream.Add(meta("5"))
		expectEvent(events, secret)
		first.stream.Action(watch.Bookmark, meta("7"))
		expectNoEvent(events, quiet/4)

		By("resuming from the last version seen when the server closes the watch")
		first.stream.Stop()
		second := nextWatch()
		Expect(second.opts.ResourceVersion).To(Equal("7"))

		By("starting afresh, and notifying, when that version has expired")
		second.stream.Error(&metav1.Status{
			Status: metav1.StatusFailure, Code: http.StatusGone, Reason: metav1.StatusReasonExpired,
			Message: "too old resource version",
		})
		expectEvent(events, secret)
		third := nextWatch()
		Expect(third.opts.ResourceVersion).To(BeEmpty())
		Expect(third.opts.FieldSelector).To(Equal("metadata.name=creds"))

		By("stopping the watch when nobody tracks the Secret")
		w.Untrack("CloudflareAccount/team-a/a")
		Eventually(third.ctx.Done()).Should(BeClosed())
		Consistently(fc.calls).WithTimeout(quiet).ShouldNot(Receive())
	})
})

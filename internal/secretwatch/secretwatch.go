// Package secretwatch notices changes to the few Secrets the operator reads, without a cache of
// every Secret in the cluster and without RBAC to list Secrets. Each tracked Secret gets one
// metadata-only watch, narrowed by a field selector to its name, so the operator needs only `get`
// and `watch` on secrets and never receives Secret data through this package.
package secretwatch

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/metadata"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

const (
	// subscriberBuffer is how many events a slow subscriber may fall behind before events are
	// dropped; the controllers' periodic resync catches up with anything dropped.
	subscriberBuffer = 1024
	// minBackoff and maxBackoff bound the wait before re-opening a watch that failed.
	minBackoff = time.Second
	maxBackoff = 30 * time.Second
)

// The manager runs a Watcher as a Runnable on every replica, leader or not.
var (
	_ manager.Runnable               = (*Watcher)(nil)
	_ manager.LeaderElectionRunnable = (*Watcher)(nil)
)

// errWatchClosed is returned by watchOnce when the watch stream ended.
var errWatchClosed = errors.New("watch closed")

// Watcher tells subscribers when a Secret that some object uses is created, changed or deleted.
// It exists so that a token rotation, or a Secret created after its account, re-reconciles the
// objects that use it within seconds, while the operator caches no Secrets. Add it to the manager
// as a Runnable and feed each subscription to a controller through source.Channel.
type Watcher struct {
	secrets metadata.Getter

	mu          sync.Mutex
	ctx         context.Context // set by Start; nil before
	stopped     bool            // set when Start returns; no watch starts after that
	owners      map[string]types.NamespacedName
	users       map[types.NamespacedName]int
	watches     map[types.NamespacedName]context.CancelFunc
	subscribers []chan event.GenericEvent
	running     sync.WaitGroup
}

// New returns a Watcher that watches Secrets through client. The client only needs `get` and
// `watch` on secrets.
func New(client metadata.Interface) *Watcher {
	return &Watcher{
		secrets: client.Resource(corev1.SchemeGroupVersion.WithResource("secrets")),
		owners:  map[string]types.NamespacedName{},
		users:   map[types.NamespacedName]int{},
		watches: map[types.NamespacedName]context.CancelFunc{},
	}
}

// Start runs the watches until ctx is done, so the manager owns the Watcher's lifetime. Secrets
// tracked before Start are watched from here on. It returns once every watch has stopped.
func (w *Watcher) Start(ctx context.Context) error {
	w.mu.Lock()
	if w.ctx != nil {
		w.mu.Unlock()
		return errors.New("secretwatch: Watcher started twice")
	}
	w.ctx = ctx
	for secret := range w.users {
		w.startLocked(secret)
	}
	w.mu.Unlock()

	<-ctx.Done()

	w.mu.Lock()
	w.stopped = true
	clear(w.watches)
	w.mu.Unlock()
	w.running.Wait()
	return nil
}

// NeedLeaderElection returns false, so the watches are already open when a replica becomes leader;
// they carry only metadata, so running them on a follower costs little.
func (w *Watcher) NeedLeaderElection() bool {
	return false
}

// Track records that owner uses secret, so its changes are reported. Tracking an owner again with
// another Secret moves it, releasing the old Secret unless another owner uses it; an empty secret
// name is the same as Untrack. It is cheap when nothing changed, so call it on every reconcile.
func (w *Watcher) Track(owner string, secret types.NamespacedName) {
	if secret.Name == "" {
		w.Untrack(owner)
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	old, had := w.owners[owner]
	if had && old == secret {
		return
	}
	w.owners[owner] = secret
	w.users[secret]++
	if w.users[secret] == 1 {
		w.startLocked(secret)
	}
	if had {
		w.releaseLocked(old)
	}
}

// Untrack records that owner uses no Secret any more, e.g. because it was deleted. Its Secret's
// watch stops when no other owner uses it.
func (w *Watcher) Untrack(owner string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if secret, had := w.owners[owner]; had {
		delete(w.owners, owner)
		w.releaseLocked(secret)
	}
}

// Subscribe returns a channel for source.Channel that receives one event per change of a tracked
// Secret, its Object carrying only the Secret's namespace and name. Call it before the manager
// starts. Each subscriber gets every event; a subscriber that falls too far behind loses events.
func (w *Watcher) Subscribe() <-chan event.GenericEvent {
	ch := make(chan event.GenericEvent, subscriberBuffer)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.subscribers = append(w.subscribers, ch)
	return ch
}

// Tracked returns the Secrets that at least one owner uses, sorted, for tests and debugging.
func (w *Watcher) Tracked() []types.NamespacedName {
	w.mu.Lock()
	defer w.mu.Unlock()
	secrets := make([]types.NamespacedName, 0, len(w.users))
	for secret := range w.users {
		secrets = append(secrets, secret)
	}
	slices.SortFunc(secrets, func(a, b types.NamespacedName) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return secrets
}

// releaseLocked drops one user of secret and stops its watch when it was the last.
func (w *Watcher) releaseLocked(secret types.NamespacedName) {
	w.users[secret]--
	if w.users[secret] > 0 {
		return
	}
	delete(w.users, secret)
	if cancel, ok := w.watches[secret]; ok {
		cancel()
		delete(w.watches, secret)
	}
}

// startLocked starts the watch of secret, unless the Watcher is not running.
func (w *Watcher) startLocked(secret types.NamespacedName) {
	if w.ctx == nil || w.stopped {
		return
	}
	ctx, cancel := context.WithCancel(w.ctx)
	w.watches[secret] = cancel
	w.running.Go(func() {
		w.watch(ctx, secret)
	})
}

// watch keeps one watch of secret open until ctx is done, re-opening it after it closes. It
// resumes from the last resourceVersion seen, so nothing is missed across a re-open; when that
// version has expired (410 Gone) it starts afresh and notifies, since a change may have been lost.
func (w *Watcher) watch(ctx context.Context, secret types.NamespacedName) {
	log := ctrl.LoggerFrom(ctx).WithValues("secret", klog.KRef(secret.Namespace, secret.Name))
	ctx = ctrl.LoggerInto(ctx, log)
	log.V(1).Info("Watching Secret")

	var resourceVersion string
	backoff := minBackoff
	for {
		healthy, err := w.watchOnce(ctx, secret, &resourceVersion)
		if ctx.Err() != nil {
			log.V(1).Info("Stopped watching Secret")
			return
		}
		delay := time.Duration(0)
		if healthy {
			backoff = minBackoff
		} else {
			delay, backoff = backoff, min(2*backoff, maxBackoff)
		}
		if errors.Is(err, errWatchClosed) {
			log.V(1).Info("Re-opening Secret watch", "after", delay)
		} else {
			log.Error(err, "Secret watch failed, re-opening it", "after", delay)
		}
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			log.V(1).Info("Stopped watching Secret")
			return
		case <-timer.C:
		}
	}
}

// watchOnce opens one watch of secret and notifies on every change until the watch ends. It
// reports the watch healthy when it delivered an event or stayed open for a while, so that a
// watch that ends only because of the server's timeout is re-opened at once.
func (w *Watcher) watchOnce(ctx context.Context, secret types.NamespacedName, resourceVersion *string) (bool, error) {
	wi, err := w.secrets.Namespace(secret.Namespace).Watch(ctx, metav1.ListOptions{
		FieldSelector:       fields.OneTermEqualSelector("metadata.name", secret.Name).String(),
		ResourceVersion:     *resourceVersion,
		AllowWatchBookmarks: true,
	})
	if err != nil {
		w.forgetIfExpired(ctx, err, secret, resourceVersion)
		return false, err
	}
	defer wi.Stop()

	opened := time.Now()
	received := false
	for {
		select {
		case <-ctx.Done():
			return true, ctx.Err()
		case ev, ok := <-wi.ResultChan():
			if !ok {
				return received || time.Since(opened) >= maxBackoff, errWatchClosed
			}
			switch ev.Type {
			case watch.Added, watch.Modified, watch.Deleted:
				w.notify(ctx, secret)
				fallthrough
			case watch.Bookmark:
				received = true
				if obj, err := meta.Accessor(ev.Object); err == nil {
					*resourceVersion = obj.GetResourceVersion()
				}
			case watch.Error:
				err := apierrors.FromObject(ev.Object)
				w.forgetIfExpired(ctx, err, secret, resourceVersion)
				return received, err
			}
		}
	}
}

// forgetIfExpired starts the next watch afresh when err says resourceVersion is too old, and
// notifies, because whatever happened since then is unknown.
func (w *Watcher) forgetIfExpired(ctx context.Context, err error, secret types.NamespacedName, resourceVersion *string) {
	if *resourceVersion != "" && (apierrors.IsResourceExpired(err) || apierrors.IsGone(err)) {
		*resourceVersion = ""
		w.notify(ctx, secret)
	}
}

// notify sends one event about secret to every subscriber, dropping it for a subscriber whose
// buffer is full rather than blocking the watch.
func (w *Watcher) notify(ctx context.Context, secret types.NamespacedName) {
	w.mu.Lock()
	subscribers := w.subscribers
	w.mu.Unlock()
	for _, ch := range subscribers {
		obj := &metav1.PartialObjectMetadata{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
			ObjectMeta: metav1.ObjectMeta{Namespace: secret.Namespace, Name: secret.Name},
		}
		select {
		case ch <- event.GenericEvent{Object: obj}:
		default:
			ctrl.LoggerFrom(ctx).Info("Dropping Secret event, subscriber is full; the next resync catches up")
		}
	}
}

package controller

import (
	"context"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// conditionedObject is every kind of this operator: an object with kstatus conditions.
type conditionedObject interface {
	client.Object
	GetConditions() []metav1.Condition
	SetConditions([]metav1.Condition)
}

// conflictRetry is how soon a reconcile whose write met a newer version of the object comes back.
const conflictRetry = time.Second

// patcher is the one way a reconcile writes the object it reconciles (house style: one deferred
// status patch, no Update-then-get, after Cluster API's util/patch):
//   - meta writes metadata (finalizer, annotations) at once, with optimistic locking, because
//     ownership rests on it: two writers cannot both believe they recorded a create intent or a
//     claim;
//   - status writes the status changes made so far, also guarded by the resourceVersion the
//     reconcile worked from, so a reconcile that read a cache not yet showing a newer write gets
//     a conflict instead of overwriting it;
//   - finish, deferred, writes the rest of the status and turns a conflict into a requeue.
type patcher struct {
	client client.Client
	obj    client.Object
	// before is the status last written (or read): status patches carry only what changed.
	before     client.Object
	copyStatus func(dst, src client.Object)
}

// newPatcher starts the writes of one reconcile of obj; copyStatus copies its kind's status.
func newPatcher(c client.Client, obj client.Object, copyStatus func(dst, src client.Object)) *patcher {
	return &patcher{client: c, obj: obj, before: obj.DeepCopyObject().(client.Object), copyStatus: copyStatus}
}

// meta applies mutate to the object's metadata and writes it. The in-memory status is kept, as
// the status patch still has to write it.
func (p *patcher) meta(ctx context.Context, mutate func()) error {
	before := p.obj.DeepCopyObject().(client.Object)
	mutate()
	err := p.client.Patch(ctx, p.obj, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
	p.copyStatus(p.obj, before)
	return err
}

// status writes the status changes made since the last write. The base takes the object's current
// metadata so that only status differs; a no-op resync writes nothing.
func (p *patcher) status(ctx context.Context) error {
	base := p.obj.DeepCopyObject().(client.Object)
	p.copyStatus(base, p.before)
	if data, err := client.MergeFrom(base).Data(p.obj); err == nil && string(data) == "{}" {
		return nil
	}
	patch := client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})
	if err := p.client.Status().Patch(ctx, p.obj, patch); err != nil {
		return client.IgnoreNotFound(err)
	}
	p.before = p.obj.DeepCopyObject().(client.Object)
	return nil
}

// finish writes the status at the end of a reconcile. A conflict, on the status or on an earlier
// metadata write, means the reconcile worked from an object already out of date: it is a
// requeue, not an error.
func (p *patcher) finish(ctx context.Context, result *ctrl.Result, retErr *error) {
	if apierrors.IsConflict(*retErr) {
		*retErr = nil
		requeueSoon(result)
	}
	err := p.status(ctx)
	switch {
	case err == nil:
	case apierrors.IsConflict(err):
		if *retErr == nil {
			requeueSoon(result)
		}
	default:
		*retErr = kerrors.NewAggregate([]error{*retErr, err})
	}
}

// requeueSoon brings the object back within conflictRetry.
func requeueSoon(result *ctrl.Result) {
	if result.RequeueAfter == 0 || result.RequeueAfter > conflictRetry {
		result.RequeueAfter = conflictRetry
	}
}

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

// statusPatcher writes an object's status once, at the end of a reconcile, as a merge patch
// against the status read at its start (house style: one deferred patch, no Update-then-get).
type statusPatcher struct {
	before client.Object
}

func newStatusPatcher(obj client.Object) *statusPatcher {
	return &statusPatcher{before: obj.DeepCopyObject().(client.Object)}
}

// patch sends the status changes made since the patcher was created (or last patched). The base
// takes the object's current metadata so that only status differs. The patch carries the
// resourceVersion the reconcile worked from: a reconcile that read a cache not yet showing a
// newer write gets a conflict (a requeue, see requeueOnConflict) instead of overwriting it.
func (p *statusPatcher) patch(ctx context.Context, c client.Client, obj client.Object, copyStatus func(dst, src client.Object)) error {
	base := obj.DeepCopyObject().(client.Object)
	copyStatus(base, p.before)
	patch := client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})
	if data, err := client.MergeFrom(base).Data(obj); err == nil && string(data) == "{}" {
		return nil // a no-op resync writes nothing
	}
	if err := c.Status().Patch(ctx, obj, patch); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	p.before = obj.DeepCopyObject().(client.Object)
	return nil
}

// conflictRetry is how soon a reconcile whose write met a newer version of the object comes back.
const conflictRetry = time.Second

// finishWithStatus writes the status at the end of a reconcile. A conflict, on the status or on an
// earlier metadata write, means the reconcile worked from an object already out of date: it is a
// requeue, not an error.
func finishWithStatus(ctx context.Context, c client.Client, p *statusPatcher, obj client.Object, copyStatus func(dst, src client.Object),
	result *ctrl.Result, retErr *error) {
	if apierrors.IsConflict(*retErr) {
		// A metadata write met a newer version of the object: come back to it, quietly.
		*retErr = nil
		if result.RequeueAfter == 0 || result.RequeueAfter > conflictRetry {
			result.RequeueAfter = conflictRetry
		}
	}
	err := p.patch(ctx, c, obj, copyStatus)
	switch {
	case err == nil:
	case apierrors.IsConflict(err) && *retErr == nil:
		if result.RequeueAfter == 0 || result.RequeueAfter > conflictRetry {
			result.RequeueAfter = conflictRetry
		}
	case apierrors.IsConflict(err):
	default:
		*retErr = kerrors.NewAggregate([]error{*retErr, err})
	}
}

// patchMeta changes an object's metadata (finalizer, annotations) with optimistic locking, so
// two writers cannot both believe they recorded a create intent or a claim. It keeps the
// in-memory status, which the deferred status patch still has to write.
func patchMeta(ctx context.Context, c client.Client, obj client.Object, copyStatus func(dst, src client.Object), mutate func()) error {
	before := obj.DeepCopyObject().(client.Object)
	mutate()
	err := c.Patch(ctx, obj, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
	copyStatus(obj, before)
	return err
}

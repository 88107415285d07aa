package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	"github.com/workersvpc/connectivity-operator/internal/cloudflare"
	"github.com/workersvpc/connectivity-operator/internal/conditions"
	"github.com/workersvpc/connectivity-operator/internal/metrics"
	"github.com/workersvpc/connectivity-operator/internal/ratelimit"
	"github.com/workersvpc/connectivity-operator/internal/servicespec"
)

// recordChangedRetry is how soon an object whose record was just cleared comes back to act on it.
const recordChangedRetry = time.Second

// reconcileRecorded looks after the service whose id the object records. A record that status
// does not show yet (a lost status, a restore, an import by id, a record from before the
// annotation) is taken up with one GET and a claim; otherwise the service is observed through the
// account's shared list and converged.
func (r *ConnectivityServiceReconciler) reconcileRecorded(ctx context.Context, obj *v1alpha1.ConnectivityService, conn *connection, patcher *statusPatcher, id string) (ctrl.Result, error) {
	svc, err := r.observe(ctx, obj, conn, id)
	switch {
	case errors.Is(err, cloudflare.ErrNotFound) && obj.Status.ServiceID == id:
		return r.recreate(ctx, obj, conn, patcher)
	case errors.Is(err, cloudflare.ErrNotFound):
		return r.stall(obj, v1alpha1.ReasonInvalidSpec, fmt.Sprintf(
			"annotation %s names service %s, which does not exist in account %s: fix or remove the annotation",
			v1alpha1.AnnotationServiceID, id, conn.acct.AccountID)), nil
	case err != nil && obj.Status.ServiceID == id && readyNow(obj, obj.Status.ObservedGeneration):
		return observationFailed(ctx, conn.acct.AccountID, err, r.resync()), nil
	case err != nil:
		return r.apiFailure(ctx, obj, err)
	}
	owned := controllerutil.ContainsFinalizer(obj, v1alpha1.Finalizer)
	if obj.Annotations[v1alpha1.AnnotationServiceID] != id || obj.Status.ServiceID != id || !owned {
		reason := v1alpha1.ReasonAdopted
		if obj.Status.ServiceID == id && owned {
			reason = v1alpha1.ReasonSynced // recorded before the annotation existed
		}
		return r.claim(ctx, obj, conn, patcher, svc, reason)
	}
	return r.converge(ctx, obj, conn, patcher, svc, v1alpha1.ReasonSynced)
}

// observe returns the service with this id. A service status already shows comes from the
// account's shared list, with the low priority of periodic observation; only when the list lacks
// it, or status does not show it yet, is it asked for by id, since that is the uncertain case.
func (r *ConnectivityServiceReconciler) observe(ctx context.Context, obj *v1alpha1.ConnectivityService, conn *connection, id string) (cloudflare.Service, error) {
	if obj.Status.ServiceID == id && !reconcileRequested(obj) {
		low := ratelimit.WithPriority(ctx, ratelimit.Low)
		svc, found, err := r.Inventory.ByID(low, conn.acct.AccountID, conn.cl, id, r.ResyncInterval)
		if err != nil || found {
			return svc, err
		}
	}
	got, err := conn.cl.Get(ctx, id)
	if err != nil {
		return cloudflare.Service{}, err
	}
	r.Inventory.Put(conn.acct.AccountID, *got)
	return *got, nil
}

// recreate handles a service deleted outside the operator: the object clears its record and
// comes back to create it again, as the spec still asks for it. Status is cleared first, so the
// next pass cannot see the old id in status once the annotation is gone.
func (r *ConnectivityServiceReconciler) recreate(ctx context.Context, obj *v1alpha1.ConnectivityService, conn *connection, patcher *statusPatcher) (ctrl.Result, error) {
	gone := recordedID(obj)
	r.Inventory.Forget(conn.acct.AccountID, gone)
	if err := r.Reservations.Release(ctx, serviceIDKey(conn.acct.AccountID, gone), holderOf(obj)); err != nil {
		return ctrl.Result{}, err
	}
	r.Recorder.Eventf(obj, nil, "Normal", "Recreating", "Create",
		"Cloudflare service %s was deleted outside the operator; creating it again", gone)
	obj.Status.ServiceID, obj.Status.CreatedAt, obj.Status.UpdatedAt = "", nil, nil
	conditions.MarkReconciling(obj, v1alpha1.ReasonProgressing, "the Cloudflare service was deleted outside the operator; creating it again")
	if err := patcher.patch(ctx, r.Client, obj, copyServiceStatus); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.patchMeta(ctx, obj, func() { delete(obj.Annotations, v1alpha1.AnnotationServiceID) }); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: recordChangedRetry}, nil
}

// converge makes the remote service match the spec with one full PUT, and none when it already
// does. A write needs the reservation of the spec's name; a rename then gives up the old one. A
// difference at an already-handled generation is drift made outside the operator.
func (r *ConnectivityServiceReconciler) converge(ctx context.Context, obj *v1alpha1.ConnectivityService, conn *connection, patcher *statusPatcher, remote cloudflare.Service, reason string) (ctrl.Result, error) {
	desired := desiredBody(ctx, obj)
	if servicespec.Equal(desired, remote) {
		obj.Status.Host = sentHost(desired)
		r.stillReady(obj, reason, remote.ID)
		return r.resync(), nil
	}
	if res, held, err := r.reserve(ctx, obj, conn.acct.AccountID, desired.Name); !held {
		return res, err
	}
	if stalledOnOwnership(obj) && desired.Name != remote.Name {
		// A rename refused before: look in the shared list first rather than PUT again each resync.
		other, found, err := r.Inventory.ByName(ctx, conn.acct.AccountID, conn.cl, desired.Name, r.ResyncInterval)
		if err != nil {
			return r.apiFailure(ctx, obj, err)
		}
		if found && other.ID != remote.ID {
			return r.stallOwnership(obj, v1alpha1.ReasonNameConflict, renameConflictMessage(remote.ID, desired.Name, conn.acct.AccountID)), nil
		}
	}
	drift := obj.Status.ObservedGeneration == obj.Generation
	ctrl.LoggerFrom(ctx).Info("Updating Cloudflare service", "serviceID", remote.ID, "drift", drift)
	updated, err := conn.cl.Update(ctx, remote.ID, desired)
	switch {
	case errors.Is(err, cloudflare.ErrNotFound):
		return r.recreate(ctx, obj, conn, patcher)
	case errors.Is(err, cloudflare.ErrNameConflict):
		return r.stallOwnership(obj, v1alpha1.ReasonNameConflict, renameConflictMessage(remote.ID, desired.Name, conn.acct.AccountID)), nil
	case err != nil:
		return r.apiFailure(ctx, obj, err)
	}
	r.Inventory.Put(conn.acct.AccountID, *updated)
	obj.Status.UpdatedAt = timePtr(updated.UpdatedAt)
	if remote.Name != desired.Name {
		if err := r.Reservations.ReleaseAll(ctx, holderOf(obj), conn.acct.AccountID,
			serviceKey(conn.acct.AccountID, desired.Name), serviceIDKey(conn.acct.AccountID, remote.ID)); err != nil {
			return ctrl.Result{}, err
		}
	}
	r.convergedEvent(obj, conn, remote.ID, drift, reason)
	obj.Status.Host = sentHost(desired)
	r.ready(obj, reason, remote.ID)
	return r.resync(), nil
}

// convergedEvent records an update: drift undone, or a spec change applied.
func (r *ConnectivityServiceReconciler) convergedEvent(obj *v1alpha1.ConnectivityService, conn *connection, id string, drift bool, reason string) {
	if drift {
		metrics.DriftCorrected(conn.acct.AccountID)
		r.Recorder.Eventf(obj, nil, "Normal", "DriftCorrected", "Update",
			"Cloudflare service %s was changed outside the operator; restored it to the spec", id)
	} else if reason == v1alpha1.ReasonSynced {
		r.Recorder.Eventf(obj, nil, "Normal", "Updated", "Update", "Updated Cloudflare service %s to the spec", id)
	}
}

func readyMessage(reason, id string) string {
	switch reason {
	case v1alpha1.ReasonCreated:
		return "Cloudflare service " + id + " created"
	case v1alpha1.ReasonAdopted:
		return "Cloudflare service " + id + " adopted and matches the spec"
	default:
		return "Cloudflare service " + id + " matches the spec"
	}
}

func renameConflictMessage(id, name, accountID string) string {
	return fmt.Sprintf("cannot rename service %s to %q: another service in account %s has that name; choose another spec.name",
		id, name, accountID)
}

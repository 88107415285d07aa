package controller

import (
	"context"
	"errors"
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	"github.com/workersvpc/connectivity-operator/internal/cloudflare"
	"github.com/workersvpc/connectivity-operator/internal/metrics"
	"github.com/workersvpc/connectivity-operator/internal/ratelimit"
	"github.com/workersvpc/connectivity-operator/internal/servicespec"
)

// reconcileExisting observes the object's service through the account's shared list and
// converges it. Only when the list lacks the service does it ask for it by id, since a list can
// be up to one resync interval old.
func (r *ConnectivityServiceReconciler) reconcileExisting(ctx context.Context, obj *v1alpha1.ConnectivityService, conn *connection, patcher *statusPatcher) (ctrl.Result, error) {
	if err := r.clearIntent(ctx, obj); err != nil {
		return ctrl.Result{}, err
	}
	id := obj.Status.ServiceID
	// Periodic observation spends only what the writes users asked for leave of the budget.
	observe := ratelimit.WithPriority(ctx, ratelimit.Low)
	svc, found, err := r.Inventory.ByID(observe, conn.acct.AccountID, conn.cl, id, r.ResyncInterval)
	if err != nil {
		return r.apiFailure(ctx, obj, err)
	}
	if !found {
		got, err := conn.cl.Get(ctx, id)
		if errors.Is(err, cloudflare.ErrNotFound) {
			return r.recreate(ctx, obj, conn, patcher)
		}
		if err != nil {
			return r.apiFailure(ctx, obj, err)
		}
		r.Inventory.Put(conn.acct.AccountID, *got)
		svc = *got
	}
	return r.converge(ctx, obj, conn, svc, v1alpha1.ReasonSynced)
}

// recreate handles a service deleted outside the operator: the object forgets it and creates it
// again, as the spec still asks for it.
func (r *ConnectivityServiceReconciler) recreate(ctx context.Context, obj *v1alpha1.ConnectivityService, conn *connection, patcher *statusPatcher) (ctrl.Result, error) {
	gone := obj.Status.ServiceID
	r.Inventory.Forget(conn.acct.AccountID, gone)
	r.Recorder.Eventf(obj, nil, "Normal", "Recreating", "Create",
		"Cloudflare service %s was deleted outside the operator; creating it again", gone)
	obj.Status.ServiceID, obj.Status.CreatedAt, obj.Status.UpdatedAt = "", nil, nil
	return r.reconcileCreate(ctx, obj, conn, patcher)
}

// converge makes the remote service match the spec with one full PUT, and none when it already
// does. A difference at an already-handled generation is drift made outside the operator.
func (r *ConnectivityServiceReconciler) converge(ctx context.Context, obj *v1alpha1.ConnectivityService, conn *connection, remote cloudflare.Service, reason string) (ctrl.Result, error) {
	desired := servicespec.Build(obj)
	if servicespec.Equal(desired, remote) {
		markReady(obj, reason, readyMessage(reason, remote.ID))
		obj.Status.ObservedGeneration = obj.Generation
		return r.resync(), nil
	}
	drift := obj.Status.ObservedGeneration == obj.Generation
	ctrl.LoggerFrom(ctx).Info("Updating Cloudflare service", "serviceID", remote.ID, "drift", drift)
	updated, err := conn.cl.Update(ctx, remote.ID, desired)
	switch {
	case errors.Is(err, cloudflare.ErrNotFound):
		return r.recreate(ctx, obj, conn, newStatusPatcher(obj))
	case errors.Is(err, cloudflare.ErrNameConflict):
		return r.stall(obj, v1alpha1.ReasonNameConflict, fmt.Sprintf(
			"cannot rename service %s to %q: another service in account %s has that name; choose another spec.name",
			remote.ID, desired.Name, conn.acct.AccountID)), nil
	case err != nil:
		return r.apiFailure(ctx, obj, err)
	}
	r.Inventory.Put(conn.acct.AccountID, *updated)
	obj.Status.UpdatedAt = timePtr(updated.UpdatedAt)
	if drift {
		metrics.DriftCorrected(conn.acct.AccountID)
		r.Recorder.Eventf(obj, nil, "Normal", "DriftCorrected", "Update",
			"Cloudflare service %s was changed outside the operator; restored it to the spec", remote.ID)
	} else if reason == v1alpha1.ReasonSynced {
		r.Recorder.Eventf(obj, nil, "Normal", "Updated", "Update", "Updated Cloudflare service %s to the spec", remote.ID)
	}
	markReady(obj, reason, readyMessage(reason, remote.ID))
	obj.Status.ObservedGeneration = obj.Generation
	return r.resync(), nil
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

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
func (r *ConnectivityServiceReconciler) reconcileRecorded(ctx context.Context, s *serviceScope, id string) (ctrl.Result, error) {
	svc, err := r.observe(ctx, s, id)
	switch {
	case errors.Is(err, cloudflare.ErrNotFound) && s.obj.Status.ServiceID == id:
		return r.recreate(ctx, s)
	case errors.Is(err, cloudflare.ErrNotFound):
		return r.stall(s.obj, v1alpha1.ReasonInvalidSpec, fmt.Sprintf(
			"annotation %s names service %s, which does not exist in account %s: fix or remove the annotation",
			v1alpha1.AnnotationServiceID, id, s.accountID())), nil
	case err != nil && s.obj.Status.ServiceID == id && readyNow(s.obj, s.obj.Status.ObservedGeneration):
		return observationFailed(ctx, s.accountID(), err, r.resync()), nil
	case err != nil:
		return r.apiFailure(ctx, s.obj, err)
	}
	owned := controllerutil.ContainsFinalizer(s.obj, v1alpha1.Finalizer)
	if s.obj.Annotations[v1alpha1.AnnotationServiceID] != id || s.obj.Status.ServiceID != id || !owned {
		reason := v1alpha1.ReasonAdopted
		if s.obj.Status.ServiceID == id && owned {
			reason = v1alpha1.ReasonSynced // recorded before the annotation existed
		}
		return r.claim(ctx, s, svc, reason)
	}
	return r.converge(ctx, s, svc, v1alpha1.ReasonSynced)
}

// observe returns the service with this id. A service status already shows comes from the
// account's shared list, with the low priority of periodic observation; only when the list lacks
// it, or status does not show it yet, is it asked for by id, since that is the uncertain case.
func (r *ConnectivityServiceReconciler) observe(ctx context.Context, s *serviceScope, id string) (cloudflare.Service, error) {
	if s.obj.Status.ServiceID == id && !reconcileRequested(s.obj) {
		low := ratelimit.WithPriority(ctx, ratelimit.Low)
		svc, found, err := r.Inventory.ByID(low, s.accountID(), s.conn.cl, id, r.ResyncInterval)
		if err != nil || found {
			return svc, err
		}
	}
	got, err := s.conn.cl.Get(ctx, id)
	if err != nil {
		return cloudflare.Service{}, err
	}
	r.Inventory.Put(s.accountID(), *got)
	return *got, nil
}

// recreate handles a service deleted outside the operator: the object clears its record and
// comes back to create it again, as the spec still asks for it. Status is cleared first, so the
// next pass cannot see the old id in status once the annotation is gone.
func (r *ConnectivityServiceReconciler) recreate(ctx context.Context, s *serviceScope) (ctrl.Result, error) {
	gone := recordedID(s.obj)
	r.Inventory.Forget(s.accountID(), gone)
	if err := r.Reservations.Release(ctx, serviceIDKey(s.accountID(), gone), holderOf(s.obj)); err != nil {
		return ctrl.Result{}, err
	}
	r.Recorder.Eventf(s.obj, nil, "Normal", "Recreating", "Create",
		"Cloudflare service %s was deleted outside the operator; creating it again", gone)
	s.obj.Status.ServiceID, s.obj.Status.CreatedAt, s.obj.Status.UpdatedAt = "", nil, nil
	conditions.MarkReconciling(s.obj, v1alpha1.ReasonProgressing, "the Cloudflare service was deleted outside the operator; creating it again")
	if err := s.patch.status(ctx); err != nil {
		return ctrl.Result{}, err
	}
	if err := s.patch.meta(ctx, func() { delete(s.obj.Annotations, v1alpha1.AnnotationServiceID) }); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: recordChangedRetry}, nil
}

// converge makes the remote service match the spec with one full PUT, and none when it already
// does. A write needs the reservation of the spec's name; a rename then gives up the old one. A
// difference at an already-handled generation is drift made outside the operator.
func (r *ConnectivityServiceReconciler) converge(ctx context.Context, s *serviceScope, remote cloudflare.Service, reason string) (ctrl.Result, error) {
	desired := desiredBody(ctx, s.obj)
	if servicespec.Equal(desired, remote) {
		s.obj.Status.Host = sentHost(desired)
		stillReady(s.obj, reason, remote.ID)
		return r.resync(), nil
	}
	if res, held, err := r.reserve(ctx, s, desired.Name); !held {
		return res, err
	}
	if stalledOnOwnership(s.obj) && desired.Name != remote.Name {
		// A rename refused before: look in the shared list first rather than PUT again each resync.
		other, found, err := r.Inventory.ByName(ctx, s.accountID(), s.conn.cl, desired.Name, r.ResyncInterval)
		if err != nil {
			return r.apiFailure(ctx, s.obj, err)
		}
		if found && other.ID != remote.ID {
			return r.stallOwnership(s.obj, v1alpha1.ReasonNameConflict, renameConflictMessage(remote.ID, desired.Name, s.accountID())), nil
		}
	}
	drift := s.obj.Status.ObservedGeneration == s.obj.Generation
	ctrl.LoggerFrom(ctx).Info("Updating Cloudflare service", "serviceID", remote.ID, "drift", drift)
	updated, err := s.conn.cl.Update(ctx, remote.ID, desired)
	switch {
	case errors.Is(err, cloudflare.ErrNotFound):
		return r.recreate(ctx, s)
	case errors.Is(err, cloudflare.ErrNameConflict):
		return r.stallOwnership(s.obj, v1alpha1.ReasonNameConflict, renameConflictMessage(remote.ID, desired.Name, s.accountID())), nil
	case err != nil:
		return r.apiFailure(ctx, s.obj, err)
	}
	r.Inventory.Put(s.accountID(), *updated)
	s.obj.Status.UpdatedAt = timePtr(updated.UpdatedAt)
	if remote.Name != desired.Name {
		if err := r.Reservations.ReleaseAll(ctx, holderOf(s.obj), s.accountID(),
			serviceKey(s.accountID(), desired.Name), serviceIDKey(s.accountID(), remote.ID)); err != nil {
			return ctrl.Result{}, err
		}
	}
	r.convergedEvent(s, remote.ID, drift, reason)
	s.obj.Status.Host = sentHost(desired)
	serviceReady(s.obj, reason, remote.ID)
	return r.resync(), nil
}

// convergedEvent records an update: drift undone, or a spec change applied.
func (r *ConnectivityServiceReconciler) convergedEvent(s *serviceScope, id string, drift bool, reason string) {
	if drift {
		metrics.DriftCorrected(s.accountID())
		r.Recorder.Eventf(s.obj, nil, "Normal", "DriftCorrected", "Update",
			"Cloudflare service %s was changed outside the operator; restored it to the spec", id)
	} else if reason == v1alpha1.ReasonSynced {
		r.Recorder.Eventf(s.obj, nil, "Normal", "Updated", "Update", "Updated Cloudflare service %s to the spec", id)
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

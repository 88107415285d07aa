package controller

import (
	"context"
	"errors"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	"github.com/workersvpc/connectivity-operator/internal/account"
	"github.com/workersvpc/connectivity-operator/internal/cloudflare"
	"github.com/workersvpc/connectivity-operator/internal/conditions"
	"github.com/workersvpc/connectivity-operator/internal/ownership"
)

// reconcileDelete deletes the recorded Cloudflare service (or leaves it, with deletionPolicy
// Orphan), gives up the object's name reservations, and then releases the object. It deletes only
// a recorded id, as the holder of the name: an intent alone never leads to a delete. It never
// hangs silently: missing credentials show as a condition that names both ways out.
func (r *ConnectivityServiceReconciler) reconcileDelete(ctx context.Context, obj *v1alpha1.ConnectivityService) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(obj, v1alpha1.Finalizer) {
		return ctrl.Result{}, nil
	}
	id := recordedID(obj)
	_, pendingCreate := obj.Annotations[v1alpha1.AnnotationCreateIntent]
	if obj.Spec.DeletionPolicy == v1alpha1.DeletionPolicyOrphan || observing(obj) || (id == "" && !pendingCreate) {
		if id != "" {
			r.Recorder.Eventf(obj, nil, "Normal", "Orphaned", "Delete",
				"Left Cloudflare service %s in place (deletionPolicy: Orphan)", id)
		}
		return ctrl.Result{}, r.releaseObject(ctx, obj)
	}
	conditions.MarkReconciling(obj, v1alpha1.ReasonDeleting, "deleting the Cloudflare service")
	conn, err := r.connectForDelete(ctx, account.RefFor(obj))
	if err != nil {
		return r.deleteBlocked(obj, err)
	}
	if id == "" {
		proven, err := r.provenByIntent(ctx, obj, conn)
		if err != nil {
			return r.apiFailure(ctx, obj, err)
		}
		if proven == "" {
			return ctrl.Result{}, r.releaseObject(ctx, obj)
		}
		id = proven
	}
	// The reservation of the id may be gone after a restore: take it again; another live
	// object holding it stops the delete.
	if res, held, err := r.reserveID(ctx, obj, conn.acct.AccountID, id); !held {
		return res, err
	}
	if !r.Inventory.WasDeleted(conn.acct.AccountID, id) {
		ctrl.LoggerFrom(ctx).Info("Deleting Cloudflare service", "serviceID", id)
		if err := conn.cl.Delete(ctx, id); err != nil {
			return r.apiFailure(ctx, obj, err)
		}
		r.Inventory.Deleted(conn.acct.AccountID, id)
		r.Recorder.Eventf(obj, nil, "Normal", "Deleted", "Delete", "Deleted Cloudflare service %s", id)
	}
	return ctrl.Result{}, r.releaseObject(ctx, obj)
}

// provenByIntent settles a create whose outcome is unknown on deletion: the service it is proven
// to have made is recorded (and then deleted); a service of the name without proof is left in
// place with a warning. It returns the recorded id, or "" when there is nothing to delete.
func (r *ConnectivityServiceReconciler) provenByIntent(ctx context.Context, obj *v1alpha1.ConnectivityService, conn *connection) (string, error) {
	intent := ownership.ParseIntent(obj.Annotations[v1alpha1.AnnotationCreateIntent])
	if intent.Name == "" {
		return "", nil
	}
	found, err := conn.cl.FindByName(ctx, intent.Name)
	if errors.Is(err, cloudflare.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	// Proof needs the name's reservation too: another object holding it made that service.
	err = r.Reservations.Reserve(ctx, serviceKey(conn.acct.AccountID, intent.Name), holderOf(obj))
	if _, held := ownership.IsHeld(err); !held && err != nil {
		return "", err
	}
	id := ""
	if err == nil {
		id = ownership.ToDelete("", &intent, found)
	}
	if id == "" {
		r.Recorder.Eventf(obj, nil, "Warning", v1alpha1.ReasonOwnershipUnknown, "Delete",
			"Left Cloudflare service %s named %q in place: nothing proves this object created it", found.ID, found.Name)
		return "", nil
	}
	return id, r.record(ctx, obj, id)
}

// deleteBlocked reports why the service cannot be deleted for want of an account or credentials.
func (r *ConnectivityServiceReconciler) deleteBlocked(obj *v1alpha1.ConnectivityService, err error) (ctrl.Result, error) {
	what := deleteBlockedBy(account.RefFor(obj), err)
	if what == "" {
		return ctrl.Result{}, err
	}
	r.stall(obj, v1alpha1.ReasonCredentialsNotFound, deleteCredentialsMessage(what))
	return ctrl.Result{RequeueAfter: r.ResyncInterval}, nil
}

// releaseObject gives up the object's name reservations and removes the finalizer, letting
// Kubernetes delete the object. An object already gone was released by an earlier pass.
func (r *ConnectivityServiceReconciler) releaseObject(ctx context.Context, obj *v1alpha1.ConnectivityService) error {
	if err := r.Reservations.ReleaseAll(ctx, holderOf(obj), ""); err != nil {
		return err
	}
	if err := r.removeExports(ctx, obj, ""); err != nil {
		return err
	}
	err := r.patchMeta(ctx, obj, func() { controllerutil.RemoveFinalizer(obj, v1alpha1.Finalizer) })
	return client.IgnoreNotFound(err)
}

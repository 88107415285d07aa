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
func (r *ConnectivityServiceReconciler) reconcileDelete(ctx context.Context, s *serviceScope) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(s.obj, v1alpha1.Finalizer) {
		return ctrl.Result{}, nil
	}
	id := recordedID(s.obj)
	if releaseOnly(s.obj, s.obj.Spec.DeletionPolicy, id) || observing(s.obj) {
		r.orphaned(s.obj, "service", id)
		return ctrl.Result{}, r.releaseObject(ctx, s)
	}
	conditions.MarkReconciling(s.obj, v1alpha1.ReasonDeleting, "deleting the Cloudflare service")
	conn, err := r.connectForDelete(ctx, account.RefFor(s.obj))
	if err != nil {
		return r.deleteBlocked(s.obj, err)
	}
	s.conn = conn
	if id == "" {
		proven, err := r.provenByIntent(ctx, s)
		if err != nil {
			return r.apiFailure(ctx, s.obj, err)
		}
		if proven == "" {
			return ctrl.Result{}, r.releaseObject(ctx, s)
		}
		id = proven
	}
	// The reservation of the id may be gone after a restore: take it again; another live
	// object holding it stops the delete.
	if res, held, err := r.reserveID(ctx, s, id); !held {
		return res, err
	}
	if !r.Inventory.WasDeleted(s.accountID(), id) {
		ctrl.LoggerFrom(ctx).Info("Deleting Cloudflare service", "serviceID", id)
		if err := s.conn.cl.Delete(ctx, id); err != nil {
			return r.apiFailure(ctx, s.obj, err)
		}
		r.Inventory.Deleted(s.accountID(), id)
		r.Recorder.Eventf(s.obj, nil, "Normal", "Deleted", "Delete", "Deleted Cloudflare service %s", id)
	}
	return ctrl.Result{}, r.releaseObject(ctx, s)
}

// provenByIntent settles a create whose outcome is unknown on deletion: the service it is proven
// to have made is recorded (and then deleted); a service of the name without proof is left in
// place with a warning. It returns the recorded id, or "" when there is nothing to delete.
func (r *ConnectivityServiceReconciler) provenByIntent(ctx context.Context, s *serviceScope) (string, error) {
	intent := ownership.ParseIntent(s.obj.Annotations[v1alpha1.AnnotationCreateIntent])
	if intent.Name == "" {
		return "", nil
	}
	found, err := s.conn.cl.FindByName(ctx, intent.Name)
	if errors.Is(err, cloudflare.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	// Proof needs the name's reservation too: another object holding it made that service.
	err = r.Reservations.Reserve(ctx, serviceKey(s.accountID(), intent.Name), holderOf(s.obj))
	if _, held := ownership.IsHeld(err); !held && err != nil {
		return "", err
	}
	id := ""
	if err == nil {
		id = ownership.ToDelete("", &intent, found)
	}
	if id == "" {
		r.Recorder.Eventf(s.obj, nil, "Warning", v1alpha1.ReasonOwnershipUnknown, "Delete",
			"Left Cloudflare service %s named %q in place: nothing proves this object created it", found.ID, found.Name)
		return "", nil
	}
	return id, r.record(ctx, s, id)
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
func (r *ConnectivityServiceReconciler) releaseObject(ctx context.Context, s *serviceScope) error {
	if err := r.Reservations.ReleaseAll(ctx, holderOf(s.obj), ""); err != nil {
		return err
	}
	if err := r.removeExports(ctx, s.obj, ""); err != nil {
		return err
	}
	err := s.patch.meta(ctx, func() { controllerutil.RemoveFinalizer(s.obj, v1alpha1.Finalizer) })
	return client.IgnoreNotFound(err)
}

// releaseOnly tells whether deleting obj lets it go without a Cloudflare call: its policy is
// Orphan, or it never recorded an id nor started a create.
func releaseOnly(obj client.Object, policy v1alpha1.DeletionPolicy, id string) bool {
	_, pendingCreate := obj.GetAnnotations()[v1alpha1.AnnotationCreateIntent]
	return policy == v1alpha1.DeletionPolicyOrphan || (id == "" && !pendingCreate)
}

// orphaned records that a deletion left the recorded remote object (a "service" or "tunnel") in
// place.
func (rep reporter) orphaned(obj client.Object, what, id string) {
	if id != "" {
		rep.Recorder.Eventf(obj, nil, "Normal", "Orphaned", "Delete", "Left Cloudflare %s %s in place (deletionPolicy: Orphan)", what, id)
	}
}

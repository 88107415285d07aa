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
)

// reconcileDelete deletes the Cloudflare service (or leaves it, with deletionPolicy Orphan) and
// then releases the object. It never hangs silently: missing credentials show as a condition
// that names both ways out.
func (r *ConnectivityServiceReconciler) reconcileDelete(ctx context.Context, obj *v1alpha1.ConnectivityService) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(obj, v1alpha1.Finalizer) {
		return ctrl.Result{}, nil
	}
	_, pendingCreate := readIntent(obj)
	if obj.Spec.DeletionPolicy == v1alpha1.DeletionPolicyOrphan || (obj.Status.ServiceID == "" && !pendingCreate) {
		if obj.Status.ServiceID != "" {
			r.Recorder.Eventf(obj, nil, "Normal", "Orphaned", "Delete",
				"Left Cloudflare service %s in place (deletionPolicy: Orphan)", obj.Status.ServiceID)
		}
		return ctrl.Result{}, r.releaseObject(ctx, obj)
	}
	markReconciling(obj, v1alpha1.ReasonDeleting, "deleting the Cloudflare service")
	conn, err := r.connectForDelete(ctx, obj)
	if err != nil {
		return r.deleteBlocked(obj, err)
	}
	id, err := r.serviceToDelete(ctx, obj, conn)
	if err != nil {
		return r.apiFailure(ctx, obj, err)
	}
	if id != "" && !r.Inventory.WasDeleted(conn.acct.AccountID, id) {
		ctrl.LoggerFrom(ctx).Info("Deleting Cloudflare service", "serviceID", id)
		if err := conn.cl.Delete(ctx, id); err != nil {
			return r.apiFailure(ctx, obj, err)
		}
		r.Inventory.Deleted(conn.acct.AccountID, id)
		r.Recorder.Eventf(obj, nil, "Normal", "Deleted", "Delete", "Deleted Cloudflare service %s", id)
	}
	return ctrl.Result{}, r.releaseObject(ctx, obj)
}

// connectForDelete resolves the account and credentials. Unlike the normal path it does not wait
// for the account to be Ready: a delete should go through whenever the credentials still work,
// even when their Secret was deleted a moment before.
func (r *ConnectivityServiceReconciler) connectForDelete(ctx context.Context, obj *v1alpha1.ConnectivityService) (*connection, error) {
	acct, err := r.Accounts.Get(ctx, account.RefFor(obj))
	if err != nil {
		return nil, err
	}
	conn, err := r.dial(ctx, acct)
	if errors.Is(err, account.ErrSecretNotFound) {
		if creds, ok := r.lastCredentials.Load(acct.Ref.String()); ok {
			ctrl.LoggerFrom(ctx).Info("Secret is gone; deleting with the credentials last read from it", "account", acct.Ref.String())
			return r.connectWith(acct, creds.(cloudflare.Credentials))
		}
	}
	return conn, err
}

// serviceToDelete is the status's service id or, when a create's outcome is still unknown, the
// service that create made, if any.
func (r *ConnectivityServiceReconciler) serviceToDelete(ctx context.Context, obj *v1alpha1.ConnectivityService, conn *connection) (string, error) {
	if obj.Status.ServiceID != "" {
		return obj.Status.ServiceID, nil
	}
	intent, _ := readIntent(obj)
	svc, err := conn.cl.FindByName(ctx, intent.Name)
	if errors.Is(err, cloudflare.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if !intent.owns(*svc) {
		return "", nil
	}
	return svc.ID, nil
}

// deleteBlocked reports why the service cannot be deleted for want of an account or credentials.
func (r *ConnectivityServiceReconciler) deleteBlocked(obj *v1alpha1.ConnectivityService, err error) (ctrl.Result, error) {
	var what string
	switch {
	case errors.Is(err, account.ErrAccountNotFound):
		what = account.RefFor(obj).String() + " does not exist"
	case errors.Is(err, account.ErrSecretNotFound):
		what = "the account's Secret does not exist"
	case errors.Is(err, account.ErrSecretIncomplete):
		what = "the account's Secret holds no API token"
	default:
		return ctrl.Result{}, err
	}
	r.stall(obj, v1alpha1.ReasonCredentialsNotFound, deleteCredentialsMessage(what))
	return ctrl.Result{RequeueAfter: r.ResyncInterval}, nil
}

// releaseObject removes the finalizer, letting Kubernetes delete the object. An object already
// gone was released by an earlier pass.
func (r *ConnectivityServiceReconciler) releaseObject(ctx context.Context, obj *v1alpha1.ConnectivityService) error {
	err := r.patchMeta(ctx, obj, func() { controllerutil.RemoveFinalizer(obj, v1alpha1.Finalizer) })
	return client.IgnoreNotFound(err)
}

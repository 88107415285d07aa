package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	"github.com/workersvpc/connectivity-operator/internal/account"
	"github.com/workersvpc/connectivity-operator/internal/cloudflare"
	"github.com/workersvpc/connectivity-operator/internal/conditions"
	"github.com/workersvpc/connectivity-operator/internal/connector"
	"github.com/workersvpc/connectivity-operator/internal/ownership"
)

// reconcileDelete deletes in order: it waits for the services that route through the tunnel,
// stops the connector, then deletes the tunnel's connections and the tunnel (or leaves it, with
// deletionPolicy Orphan), gives up the reservations and releases the object. It deletes only a
// recorded tunnel, or one an intent is proven to have made.
func (r *CloudflareTunnelReconciler) reconcileDelete(ctx context.Context, s *tunnelScope) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(s.obj, v1alpha1.Finalizer) {
		return ctrl.Result{}, nil
	}
	if waiting, err := r.waitForUsers(ctx, s.obj); waiting || err != nil {
		return ctrl.Result{}, err // a service's deletion wakes the tunnel
	}
	id := recordedTunnelID(s.obj)
	if releaseOnly(s.obj, s.obj.Spec.DeletionPolicy, id) {
		r.orphaned(s.obj, "tunnel", id)
		return ctrl.Result{}, r.release(ctx, s)
	}
	conditions.MarkReconciling(s.obj, v1alpha1.ReasonDeleting, "deleting the connector, then the Cloudflare tunnel")
	if err := r.stopConnector(ctx, s.obj); err != nil {
		return ctrl.Result{}, err
	}
	ref := account.TunnelRefFor(s.obj)
	conn, err := r.connectForDelete(ctx, ref)
	if err != nil {
		return r.deleteBlocked(s.obj, ref, err)
	}
	s.conn = conn
	if id == "" {
		if id, err = r.provenByIntent(ctx, s); err != nil || id == "" {
			return r.afterProof(ctx, s, err)
		}
	}
	if res, held, err := r.reserve(ctx, s.obj, tunnelIDKey(s.accountID(), id), id); !held {
		return res, err
	}
	ctrl.LoggerFrom(ctx).Info("Deleting Cloudflare tunnel", "tunnelID", id)
	if err := s.conn.cl.DeleteTunnel(ctx, id); err != nil {
		return r.apiFailure(ctx, s.obj, err)
	}
	r.Recorder.Eventf(s.obj, nil, "Normal", "Deleted", "Delete", "Deleted Cloudflare tunnel %s", id)
	return ctrl.Result{}, r.release(ctx, s)
}

// waitForUsers keeps the tunnel while ConnectivityServices still route through it, so their
// deletion is never cut off from the tunnel they name. It reports whether to wait.
func (r *CloudflareTunnelReconciler) waitForUsers(ctx context.Context, obj *v1alpha1.CloudflareTunnel) (bool, error) {
	users, err := r.usersOf(ctx, obj)
	if err != nil || len(users) == 0 {
		return false, err
	}
	names := make([]string, 0, min(3, len(users)))
	for _, u := range users[:min(3, len(users))] {
		names = append(names, u.Namespace+"/"+u.Name)
	}
	conditions.MarkReconciling(obj, v1alpha1.ReasonTunnelInUse, fmt.Sprintf(
		"waiting for the %d ConnectivityService(s) that use this tunnel (%s) to be deleted first",
		len(users), strings.Join(names, ", ")))
	return true, nil
}

// stopConnector deletes the connector Deployment first, so no cloudflared reconnects while the
// tunnel's connections are cleaned up.
func (r *CloudflareTunnelReconciler) stopConnector(ctx context.Context, obj *v1alpha1.CloudflareTunnel) error {
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: obj.Namespace, Name: connector.DeploymentName(obj)}}
	return client.IgnoreNotFound(r.Delete(ctx, dep, client.PropagationPolicy(metav1.DeletePropagationBackground)))
}

// provenByIntent settles a create whose outcome is unknown on deletion: the tunnel of the intent's
// name is deleted only when its token carries one of the intent's secrets, and is recorded first.
func (r *CloudflareTunnelReconciler) provenByIntent(ctx context.Context, s *tunnelScope) (string, error) {
	intent := ownership.ParseTunnelIntent(s.obj.Annotations[v1alpha1.AnnotationCreateIntent])
	if intent.Name == "" {
		return "", nil
	}
	found, err := s.conn.cl.FindTunnelByName(ctx, intent.Name)
	if errors.Is(err, cloudflare.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	token, err := s.conn.cl.TunnelToken(ctx, found.ID)
	if err != nil {
		return "", err
	}
	if _, secret, err := token.Parse(); err != nil || !intent.Proven(secret) {
		return "", nil
	}
	return found.ID, s.patch.meta(ctx, func() {
		metav1.SetMetaDataAnnotation(&s.obj.ObjectMeta, v1alpha1.AnnotationTunnelID, found.ID)
		delete(s.obj.Annotations, v1alpha1.AnnotationCreateIntent)
	})
}

// afterProof finishes a deletion whose intent proved no tunnel: nothing to delete.
func (r *CloudflareTunnelReconciler) afterProof(ctx context.Context, s *tunnelScope, err error) (ctrl.Result, error) {
	if err != nil {
		return r.apiFailure(ctx, s.obj, err)
	}
	return ctrl.Result{}, r.release(ctx, s)
}

// deleteBlocked reports why the tunnel cannot be deleted for want of an account or credentials.
func (r *CloudflareTunnelReconciler) deleteBlocked(obj *v1alpha1.CloudflareTunnel, ref account.Ref, err error) (ctrl.Result, error) {
	what := deleteBlockedBy(ref, err)
	if what == "" {
		return ctrl.Result{}, err
	}
	r.stall(obj, v1alpha1.ReasonCredentialsNotFound, fmt.Sprintf(
		"cannot delete the Cloudflare tunnel: %s; restore it, or set spec.deletionPolicy: Orphan to leave the tunnel in Cloudflare", what))
	return ctrl.Result{RequeueAfter: r.ResyncInterval}, nil
}

// release gives up the object's reservations and removes the finalizer; the connector's objects
// go with the object through their owner references.
func (r *CloudflareTunnelReconciler) release(ctx context.Context, s *tunnelScope) error {
	if err := r.Reservations.ReleaseAll(ctx, tunnelHolder(s.obj), ""); err != nil {
		return err
	}
	err := s.patch.meta(ctx, func() { controllerutil.RemoveFinalizer(s.obj, v1alpha1.Finalizer) })
	return client.IgnoreNotFound(err)
}

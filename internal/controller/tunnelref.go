package controller

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	"github.com/workersvpc/connectivity-operator/internal/cloudflare"
	"github.com/workersvpc/connectivity-operator/internal/conditions"
	"github.com/workersvpc/connectivity-operator/internal/serviceref"
	"github.com/workersvpc/connectivity-operator/internal/servicespec"
)

// resolveTunnelRefs reads the tunnel id of each tunnelRef in spec.host from the referenced
// CloudflareTunnel and returns a context that carries them to desiredBody, so everything after works
// with ids as if the user had written them. Until a tunnel has an id the service waits with
// TunnelNotReady; the tunnel's status change wakes it. ok is false when the caller must stop and
// return res.
func (r *ConnectivityServiceReconciler) resolveTunnelRefs(ctx context.Context, obj *v1alpha1.ConnectivityService, accountID string) (context.Context, ctrl.Result, bool, error) {
	var ids servicespec.TunnelIDs
	for _, ref := range []struct {
		name string
		id   *string
	}{
		{tunnelRefName(obj.Spec.Host.Network), &ids.Network},
		{tunnelRefNameResolver(obj.Spec.Host.ResolverNetwork), &ids.Resolver},
	} {
		if ref.name == "" {
			continue
		}
		id, message, err := r.tunnelIDOf(ctx, obj.Namespace, ref.name, accountID)
		if err != nil {
			return ctx, ctrl.Result{}, false, err
		}
		if message != "" {
			conditions.MarkReconciling(obj, v1alpha1.ReasonTunnelNotReady, message)
			return ctx, r.resync(), false, nil
		}
		*ref.id = id
	}
	return context.WithValue(ctx, tunnelIDsKey{}, ids), ctrl.Result{}, true, nil
}

// tunnelIDsKey carries the resolved tunnel ids of one reconcile in its context.
type tunnelIDsKey struct{}

// desiredBody is the body the object's service should have, with its tunnelRefs and serviceRef
// resolved.
func desiredBody(ctx context.Context, obj *v1alpha1.ConnectivityService) cloudflare.Service {
	ids, _ := ctx.Value(tunnelIDsKey{}).(servicespec.TunnelIDs)
	body := servicespec.BuildWith(obj, ids)
	if origin, ok := ctx.Value(originKey{}).(serviceref.Origin); ok {
		serviceref.Apply(&body, origin, obj.Spec)
	}
	return body
}

// tunnelIDOf reads the referenced tunnel's id; message says why the service must wait instead.
func (r *ConnectivityServiceReconciler) tunnelIDOf(ctx context.Context, namespace, name, accountID string) (id, message string, err error) {
	tunnel := &v1alpha1.CloudflareTunnel{}
	err = r.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, tunnel)
	switch {
	case apierrors.IsNotFound(err):
		return "", fmt.Sprintf("CloudflareTunnel %s/%s does not exist: create it, or fix tunnelRef.name", namespace, name), nil
	case err != nil:
		return "", "", err
	case tunnel.Status.TunnelID == "":
		return "", fmt.Sprintf("CloudflareTunnel %s/%s has no tunnel id yet: see its Ready condition", namespace, name), nil
	case tunnel.Status.AccountID != accountID:
		return "", fmt.Sprintf("CloudflareTunnel %s/%s is in Cloudflare account %s, and this service in %s: "+
			"point both at the same account", namespace, name, tunnel.Status.AccountID, accountID), nil
	}
	return tunnel.Status.TunnelID, "", nil
}

func tunnelRefName(n *v1alpha1.Network) string {
	if n == nil || n.TunnelRef == nil {
		return ""
	}
	return n.TunnelRef.Name
}

func tunnelRefNameResolver(n *v1alpha1.ResolverNetwork) string {
	if n == nil || n.TunnelRef == nil {
		return ""
	}
	return n.TunnelRef.Name
}

// servicesOfTunnel maps a CloudflareTunnel event to the services that refer to it by name.
func (r *ConnectivityServiceReconciler) servicesOfTunnel(ctx context.Context, o client.Object) []reconcile.Request {
	return requestsOf(ctx, r.Client, &v1alpha1.ConnectivityServiceList{}, client.InNamespace(o.GetNamespace()),
		client.MatchingFields{indexTunnelRef: o.GetNamespace() + "/" + o.GetName()})
}

// tunnelIdentityChanged passes the tunnel events that change what its services resolve: its
// creation and deletion, and a new tunnel id or account in status.
func tunnelIdentityChanged() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		oldT, newT := e.ObjectOld.(*v1alpha1.CloudflareTunnel), e.ObjectNew.(*v1alpha1.CloudflareTunnel)
		return oldT.Status.TunnelID != newT.Status.TunnelID || oldT.Status.AccountID != newT.Status.AccountID
	}}
}

package controller

import (
	"context"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	"github.com/workersvpc/connectivity-operator/internal/account"
	"github.com/workersvpc/connectivity-operator/internal/connector"
)

// Field indexes that tie services and tunnels together.
const (
	// indexTunnelRef finds the services whose tunnelRef names a CloudflareTunnel (namespace/name).
	indexTunnelRef = "connectivity.workersvpc.dev/tunnel-ref"
	// indexTunnelID finds the services that name a tunnel by its id.
	indexTunnelID = "connectivity.workersvpc.dev/tunnel-id"
	// indexTunnelStatusID finds the CloudflareTunnel of a tunnel id.
	indexTunnelStatusID = "connectivity.workersvpc.dev/status-tunnel-id"
	// indexTunnelAccount finds the tunnels that use an account object.
	indexTunnelAccount = "connectivity.workersvpc.dev/tunnel-account-ref"
)

// CacheByObject limits the manager's cache of the kinds the operator writes (the connectors'
// objects, the export ConfigMaps) to its own: never an informer over every Deployment or
// ConfigMap of the cluster.
func CacheByObject() map[client.Object]cache.ByObject {
	own := cache.ByObject{Label: labels.SelectorFromSet(labels.Set{"app.kubernetes.io/managed-by": connector.ManagedBy})}
	return map[client.Object]cache.ByObject{
		&appsv1.Deployment{}:            own,
		&policyv1.PodDisruptionBudget{}: own,
		&networkingv1.NetworkPolicy{}:   own,
		&corev1.ConfigMap{}:             own,
	}
}

// setupTunnels registers the tunnel controller (Setup registers its indexes first).
func setupTunnels(mgr ctrl.Manager, r *CloudflareTunnelReconciler, workers int) error {
	serviceUsage := predicate.Or(predicate.GenerationChangedPredicate{}, predicate.Funcs{
		CreateFunc: func(event.CreateEvent) bool { return true },
		DeleteFunc: func(event.DeleteEvent) bool { return true },
	})
	return ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.CloudflareTunnel{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Owns(&appsv1.Deployment{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		Owns(&networkingv1.NetworkPolicy{}).
		Watches(&v1alpha1.ConnectivityService{}, handler.EnqueueRequestsFromMapFunc(r.tunnelsOfService), builder.WithPredicates(serviceUsage)).
		Watches(&corev1.Service{}, handler.EnqueueRequestsFromMapFunc(r.tunnelsOfKubeService)).
		Watches(&v1alpha1.CloudflareAccount{}, handler.EnqueueRequestsFromMapFunc(r.tunnelsOfAccount)).
		Watches(&v1alpha1.ClusterCloudflareAccount{}, handler.EnqueueRequestsFromMapFunc(r.tunnelsOfAccount)).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers, RateLimiter: retryBackoff()}).
		Named("cloudflaretunnel").
		Complete(r)
}

// indexTunnels indexes services by the tunnels they name, and tunnels by id and account.
func indexTunnels(ctx context.Context, mgr ctrl.Manager) error {
	idx := mgr.GetFieldIndexer()
	if err := idx.IndexField(ctx, &v1alpha1.ConnectivityService{}, indexTunnelRef, func(o client.Object) []string {
		return tunnelRefsOf(o.(*v1alpha1.ConnectivityService))
	}); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &v1alpha1.ConnectivityService{}, indexTunnelID, func(o client.Object) []string {
		return tunnelIDsOf(o.(*v1alpha1.ConnectivityService))
	}); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, &v1alpha1.CloudflareTunnel{}, indexTunnelStatusID, func(o client.Object) []string {
		if id := o.(*v1alpha1.CloudflareTunnel).Status.TunnelID; id != "" {
			return []string{strings.ToLower(id)}
		}
		return nil
	}); err != nil {
		return err
	}
	return idx.IndexField(ctx, &v1alpha1.CloudflareTunnel{}, indexTunnelAccount, func(o client.Object) []string {
		return []string{account.TunnelRefFor(o.(*v1alpha1.CloudflareTunnel)).String()}
	})
}

// tunnelRefsOf is the namespace/name of each CloudflareTunnel the service's host refers to.
func tunnelRefsOf(s *v1alpha1.ConnectivityService) []string {
	var refs []string
	if n := s.Spec.Host.Network; n != nil && n.TunnelRef != nil {
		refs = append(refs, s.Namespace+"/"+n.TunnelRef.Name)
	}
	if n := s.Spec.Host.ResolverNetwork; n != nil && n.TunnelRef != nil {
		refs = append(refs, s.Namespace+"/"+n.TunnelRef.Name)
	}
	return refs
}

// tunnelIDsOf is each tunnel id the service's host names directly, in lower case.
func tunnelIDsOf(s *v1alpha1.ConnectivityService) []string {
	var ids []string
	if n := s.Spec.Host.Network; n != nil && n.TunnelID != "" {
		ids = append(ids, strings.ToLower(n.TunnelID))
	}
	if n := s.Spec.Host.ResolverNetwork; n != nil && n.TunnelID != "" {
		ids = append(ids, strings.ToLower(n.TunnelID))
	}
	return ids
}

// usersOf lists the services that route through the tunnel: by tunnelRef, or by its id.
func (r *CloudflareTunnelReconciler) usersOf(ctx context.Context, obj *v1alpha1.CloudflareTunnel) ([]v1alpha1.ConnectivityService, error) {
	var byRef v1alpha1.ConnectivityServiceList
	if err := r.List(ctx, &byRef, client.InNamespace(obj.Namespace),
		client.MatchingFields{indexTunnelRef: obj.Namespace + "/" + obj.Name}); err != nil {
		return nil, err
	}
	users := byRef.Items
	id := recordedTunnelID(obj)
	if id == "" {
		return users, nil
	}
	var byID v1alpha1.ConnectivityServiceList
	if err := r.List(ctx, &byID, client.MatchingFields{indexTunnelID: strings.ToLower(id)}); err != nil {
		return nil, err
	}
	for _, s := range byID.Items {
		if !containsUID(users, s.UID) {
			users = append(users, s)
		}
	}
	return users, nil
}

func containsUID(list []v1alpha1.ConnectivityService, uid types.UID) bool {
	for i := range list {
		if list[i].UID == uid {
			return true
		}
	}
	return false
}

// tunnelsOfService maps a service event to the tunnels it routes through, whose egress policy and
// deletion depend on it.
func (r *CloudflareTunnelReconciler) tunnelsOfService(ctx context.Context, o client.Object) []reconcile.Request {
	s := o.(*v1alpha1.ConnectivityService)
	reqs := make([]reconcile.Request, 0, 2)
	for _, ref := range tunnelRefsOf(s) {
		ns, name, _ := strings.Cut(ref, "/")
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}})
	}
	for _, id := range tunnelIDsOf(s) {
		reqs = append(reqs, requestsOf(ctx, r.Client, &v1alpha1.CloudflareTunnelList{}, client.MatchingFields{indexTunnelStatusID: id})...)
	}
	return reqs
}

// tunnelsOfAccount maps an account object event to the tunnels that use it.
func (r *CloudflareTunnelReconciler) tunnelsOfAccount(ctx context.Context, o client.Object) []reconcile.Request {
	ref := account.Ref{Kind: v1alpha1.AccountKindCluster, Name: o.GetName()}
	if _, ok := o.(*v1alpha1.CloudflareAccount); ok {
		ref = account.Ref{Kind: v1alpha1.AccountKindNamespaced, Namespace: o.GetNamespace(), Name: o.GetName()}
	}
	return requestsOf(ctx, r.Client, &v1alpha1.CloudflareTunnelList{}, client.MatchingFields{indexTunnelAccount: ref.String()})
}

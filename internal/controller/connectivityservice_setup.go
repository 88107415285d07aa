package controller

import (
	"context"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	"github.com/workersvpc/connectivity-operator/internal/account"
	"github.com/workersvpc/connectivity-operator/internal/servicespec"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// setupWithManager watches the objects themselves (spec and annotation changes), the deletion of
// objects whose name others wait for, the account objects they use, and the Secrets behind them.
func (r *ConnectivityServiceReconciler) setupWithManager(mgr ctrl.Manager, workers int, secrets <-chan event.GenericEvent) error {
	b := ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.ConnectivityService{}, builder.WithPredicates(
			predicate.Or(predicate.GenerationChangedPredicate{}, userAnnotationsChanged()))).
		Watches(&v1alpha1.ConnectivityService{}, handler.EnqueueRequestsFromMapFunc(r.waitersOfName),
			builder.WithPredicates(onlyDeletes())).
		Watches(&v1alpha1.CloudflareAccount{}, handler.EnqueueRequestsFromMapFunc(r.servicesOfAccount)).
		Watches(&v1alpha1.ClusterCloudflareAccount{}, handler.EnqueueRequestsFromMapFunc(r.servicesOfAccount)).
		Watches(&v1alpha1.CloudflareTunnel{}, handler.EnqueueRequestsFromMapFunc(r.servicesOfTunnel),
			builder.WithPredicates(tunnelIdentityChanged())).
		Owns(&corev1.ConfigMap{}, builder.WithPredicates(onlyDeletes())).
		Watches(&corev1.Service{}, handler.EnqueueRequestsFromMapFunc(r.servicesOfService)).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers, RateLimiter: retryBackoff()}).
		Named("connectivityservice")
	if secrets != nil {
		b = b.WatchesRawSource(source.Channel(secrets, handler.EnqueueRequestsFromMapFunc(r.servicesOfSecret)))
	}
	return b.Complete(r)
}

// userAnnotationsChanged passes updates of the annotations users set (adopt, reconcile-now, and service-id to
// import a service) and not the operator's own writes: its create intent, whose removal after a
// refused create must not trigger the retry that a terminal failure forbids, and its record of a
// service id, written together with the end of the intent, or of the id status already shows.
func userAnnotationsChanged() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		oldA, newA := e.ObjectOld.GetAnnotations(), e.ObjectNew.GetAnnotations()
		if oldA[v1alpha1.AnnotationAdopt] != newA[v1alpha1.AnnotationAdopt] ||
			oldA[v1alpha1.AnnotationReconcileRequestedAt] != newA[v1alpha1.AnnotationReconcileRequestedAt] {
			return true
		}
		id := newA[v1alpha1.AnnotationServiceID]
		if oldA[v1alpha1.AnnotationServiceID] == id {
			return false
		}
		_, hadIntent := oldA[v1alpha1.AnnotationCreateIntent]
		_, hasIntent := newA[v1alpha1.AnnotationCreateIntent]
		recorded := (hadIntent && !hasIntent) || id == e.ObjectNew.(*v1alpha1.ConnectivityService).Status.ServiceID
		return !recorded
	}}
}

// indexServices indexes services by account object and by the name they want.
func indexServices(ctx context.Context, mgr ctrl.Manager) error {
	idx := mgr.GetFieldIndexer()
	svc := &v1alpha1.ConnectivityService{}
	if err := idx.IndexField(ctx, svc, indexAccountRef, func(o client.Object) []string {
		return []string{account.RefFor(o.(*v1alpha1.ConnectivityService)).String()}
	}); err != nil {
		return err
	}
	if err := idx.IndexField(ctx, svc, indexServiceRef, serviceRefOf); err != nil {
		return err
	}
	return idx.IndexField(ctx, svc, indexAccountName, func(o client.Object) []string {
		s := o.(*v1alpha1.ConnectivityService)
		if s.Status.AccountID == "" {
			return nil
		}
		return []string{s.Status.AccountID + "/" + servicespec.Name(s)}
	})
}

// servicesOfAccount maps an account object event to the services that use it.
func (r *ConnectivityServiceReconciler) servicesOfAccount(ctx context.Context, o client.Object) []reconcile.Request {
	if _, ok := o.(*v1alpha1.CloudflareAccount); ok {
		return r.servicesOfRef(ctx, account.Ref{Kind: v1alpha1.AccountKindNamespaced, Namespace: o.GetNamespace(), Name: o.GetName()})
	}
	return r.servicesOfRef(ctx, account.Ref{Kind: v1alpha1.AccountKindCluster, Name: o.GetName()})
}

func (r *ConnectivityServiceReconciler) servicesOfRef(ctx context.Context, ref account.Ref) []reconcile.Request {
	return requestsOf(ctx, r.Client, &v1alpha1.ConnectivityServiceList{}, client.MatchingFields{indexAccountRef: ref.String()})
}

// servicesOfSecret maps a Secret change to the services of every account that reads it.
func (r *ConnectivityServiceReconciler) servicesOfSecret(ctx context.Context, secret client.Object) []reconcile.Request {
	reqs := make([]reconcile.Request, 0, 16)
	for _, req := range accountsOfSecret(r.Client, &v1alpha1.CloudflareAccountList{})(ctx, secret) {
		reqs = append(reqs, r.servicesOfRef(ctx, account.Ref{Kind: v1alpha1.AccountKindNamespaced, Namespace: req.Namespace, Name: req.Name})...)
	}
	for _, req := range accountsOfSecret(r.Client, &v1alpha1.ClusterCloudflareAccountList{})(ctx, secret) {
		reqs = append(reqs, r.servicesOfRef(ctx, account.Ref{Kind: v1alpha1.AccountKindCluster, Name: req.Name})...)
	}
	return reqs
}

// waitersOfName maps a deleted service to the others that want its name in its account, so a
// NameConflict on it clears at once rather than at the next resync.
func (r *ConnectivityServiceReconciler) waitersOfName(ctx context.Context, o client.Object) []reconcile.Request {
	gone := o.(*v1alpha1.ConnectivityService)
	if gone.Status.AccountID == "" {
		return nil
	}
	var list v1alpha1.ConnectivityServiceList
	key := gone.Status.AccountID + "/" + servicespec.Name(gone)
	if err := r.List(ctx, &list, client.MatchingFields{indexAccountName: key}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Failed to list services waiting for a name", "name", key)
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, s := range list.Items {
		if s.UID != gone.UID {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: s.Namespace, Name: s.Name}})
		}
	}
	return reqs
}

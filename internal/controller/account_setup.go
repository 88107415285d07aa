package controller

import (
	"context"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	"github.com/workersvpc/connectivity-operator/internal/account"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// setupAccountControllers registers both account kinds; a Secret change reaches the accounts
// that read it.
func setupAccountControllers(mgr ctrl.Manager, verifier accountVerifier, secrets SecretWatcher) error {
	serviceGone := builder.WithPredicates(onlyDeletes())
	ns := ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.CloudflareAccount{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&v1alpha1.ConnectivityService{},
			handler.EnqueueRequestsFromMapFunc(accountOfService(v1alpha1.AccountKindNamespaced)), serviceGone).
		Watches(&v1alpha1.CloudflareTunnel{},
			handler.EnqueueRequestsFromMapFunc(accountOfTunnel(v1alpha1.AccountKindNamespaced)), serviceGone).
		Named("cloudflareaccount")
	cluster := ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.ClusterCloudflareAccount{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&v1alpha1.ConnectivityService{},
			handler.EnqueueRequestsFromMapFunc(accountOfService(v1alpha1.AccountKindCluster)), serviceGone).
		Watches(&v1alpha1.CloudflareTunnel{},
			handler.EnqueueRequestsFromMapFunc(accountOfTunnel(v1alpha1.AccountKindCluster)), serviceGone).
		Named("clustercloudflareaccount")
	if secrets != nil {
		ns = ns.WatchesRawSource(source.Channel(secrets.Subscribe(), handler.EnqueueRequestsFromMapFunc(
			accountsOfSecret(mgr.GetClient(), &v1alpha1.CloudflareAccountList{}))))
		cluster = cluster.WatchesRawSource(source.Channel(secrets.Subscribe(), handler.EnqueueRequestsFromMapFunc(
			accountsOfSecret(mgr.GetClient(), &v1alpha1.ClusterCloudflareAccountList{}))))
	}
	if err := ns.Complete(&accountReconciler[*v1alpha1.CloudflareAccount]{
		accountVerifier: verifier, kind: v1alpha1.AccountKindNamespaced,
		newObject: func() *v1alpha1.CloudflareAccount { return &v1alpha1.CloudflareAccount{} },
		resolve:   (*account.Resolver).Namespaced,
	}); err != nil {
		return err
	}
	return cluster.Complete(&accountReconciler[*v1alpha1.ClusterCloudflareAccount]{
		accountVerifier: verifier, kind: v1alpha1.AccountKindCluster,
		newObject: func() *v1alpha1.ClusterCloudflareAccount { return &v1alpha1.ClusterCloudflareAccount{} },
		resolve:   (*account.Resolver).Cluster,
	})
}

// indexAccountSecrets indexes both account kinds by the Secret they read.
func indexAccountSecrets(ctx context.Context, mgr ctrl.Manager, resolver *account.Resolver) error {
	idx := mgr.GetFieldIndexer()
	if err := idx.IndexField(ctx, &v1alpha1.CloudflareAccount{}, indexSecret, func(o client.Object) []string {
		return []string{resolver.Namespaced(o.(*v1alpha1.CloudflareAccount)).Secret.String()}
	}); err != nil {
		return err
	}
	return idx.IndexField(ctx, &v1alpha1.ClusterCloudflareAccount{}, indexSecret, func(o client.Object) []string {
		return []string{resolver.Cluster(o.(*v1alpha1.ClusterCloudflareAccount)).Secret.String()}
	})
}

// accountOfTunnel maps a deleted tunnel to its account object of one kind, as accountOfService.
func accountOfTunnel(kind v1alpha1.AccountKind) handler.MapFunc {
	return func(_ context.Context, o client.Object) []reconcile.Request {
		ref := account.TunnelRefFor(o.(*v1alpha1.CloudflareTunnel))
		if ref.Kind != kind {
			return nil
		}
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}}}
	}
}

// accountOfService maps a deleted service to its account object of one kind, so a deleted
// account waiting for its services is released as soon as the last one goes.
func accountOfService(kind v1alpha1.AccountKind) handler.MapFunc {
	return func(_ context.Context, o client.Object) []reconcile.Request {
		ref := account.RefFor(o.(*v1alpha1.ConnectivityService))
		if ref.Kind != kind {
			return nil
		}
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}}}
	}
}

// accountsOfSecret maps a Secret event to requests for the accounts (of list's kind) that read it.
func accountsOfSecret(c client.Reader, list client.ObjectList) handler.MapFunc {
	return func(ctx context.Context, secret client.Object) []reconcile.Request {
		key := types.NamespacedName{Namespace: secret.GetNamespace(), Name: secret.GetName()}.String()
		list := list.DeepCopyObject().(client.ObjectList)
		if err := c.List(ctx, list, client.MatchingFields{indexSecret: key}); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "Failed to list accounts of Secret", "secret", key)
			return nil
		}
		items, _ := meta.ExtractList(list)
		reqs := make([]reconcile.Request, 0, len(items))
		for _, item := range items {
			o := item.(client.Object)
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetName()}})
		}
		return reqs
	}
}

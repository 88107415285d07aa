package controller

import (
	"cmp"
	"context"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	"github.com/workersvpc/connectivity-operator/internal/account"
	"github.com/workersvpc/connectivity-operator/internal/inventory"
	"github.com/workersvpc/connectivity-operator/internal/ownership"
	"github.com/workersvpc/connectivity-operator/internal/servicespec"
)

// Field indexes on the manager's cache.
const (
	// indexAccountRef finds the services that use an account object.
	indexAccountRef = "connectivity.workersvpc.dev/account-ref"
	// indexAccountName finds the services that want a name in a Cloudflare account, to wake
	// those waiting on a name when its holder goes.
	indexAccountName = "connectivity.workersvpc.dev/account-name"
	// indexSecret finds the account objects that read a Secret.
	indexSecret = "connectivity.workersvpc.dev/secret"
)

// Config is what the three controllers need; main builds it from flags, tests from the fakes.
type Config struct {
	// Accounts resolves account objects and reads their Secrets (uncached).
	Accounts *account.Resolver
	// ClientFor builds the Cloudflare client of an account.
	ClientFor ClientFor
	// ResyncInterval is how often a Ready service is compared with Cloudflare.
	ResyncInterval time.Duration
	// AccountVerifyInterval is how often Ready account credentials are verified again.
	AccountVerifyInterval time.Duration
	// MaxConcurrentReconciles is the number of ConnectivityService workers.
	MaxConcurrentReconciles int
	// Secrets watches the Secrets that accounts use; nil disables Secret watching.
	Secrets SecretWatcher
	// ReservationNamespace holds the Leases that reserve service names (the operator's own).
	ReservationNamespace string
	// DNS is how the cluster names Services and where its DNS answers, for serviceRef hosts.
	DNS ClusterDNS
	// TunnelHealthPoll is how often a tunnel not yet healthy is looked at; zero means
	// DefaultTunnelHealthPoll.
	TunnelHealthPoll time.Duration
}

// SecretWatcher tracks the Secrets accounts read and reports their changes (see secretwatch).
type SecretWatcher interface {
	SecretTracker
	Subscribe() <-chan event.GenericEvent
}

// Setup registers the field indexes and the three controllers with the manager.
func Setup(mgr ctrl.Manager, cfg Config) error {
	ctx := context.Background()
	if err := indexServices(ctx, mgr); err != nil {
		return err
	}
	if err := indexAccountSecrets(ctx, mgr, cfg.Accounts); err != nil {
		return err
	}
	if err := indexTunnels(ctx, mgr); err != nil {
		return err
	}
	verifier := accountVerifier{
		Client:         mgr.GetClient(),
		Accounts:       cfg.Accounts,
		ClientFor:      cfg.ClientFor,
		Recorder:       mgr.GetEventRecorder("cloudflareaccount-controller"),
		VerifyInterval: cfg.AccountVerifyInterval,
		verified:       &verifiedSet{seen: map[string]verification{}},
	}
	var serviceSecrets <-chan event.GenericEvent
	if cfg.Secrets != nil {
		verifier.Secrets = cfg.Secrets
		serviceSecrets = cfg.Secrets.Subscribe()
	}
	if err := setupAccountControllers(mgr, verifier, cfg.Secrets); err != nil {
		return err
	}
	dial := &dialer{Accounts: cfg.Accounts, ClientFor: cfg.ClientFor, ResyncInterval: cfg.ResyncInterval}
	svc := &ConnectivityServiceReconciler{
		Client:    mgr.GetClient(),
		dialer:    dial,
		Inventory: inventory.New(),
		Reservations: &ownership.Reservations{
			Client:    mgr.GetClient(),
			Reader:    mgr.GetAPIReader(),
			Namespace: cfg.ReservationNamespace,
			Exists:    holderExists(mgr.GetAPIReader(), func() *v1alpha1.ConnectivityService { return &v1alpha1.ConnectivityService{} }),
		},
		reporter: reporter{Recorder: mgr.GetEventRecorder("connectivityservice-controller")},
		DNS:      cfg.DNS,
	}
	if err := svc.setupWithManager(mgr, cfg.MaxConcurrentReconciles, serviceSecrets); err != nil {
		return err
	}
	tunnels := &CloudflareTunnelReconciler{
		Client:    mgr.GetClient(),
		dialer:    dial,
		reporter:  reporter{Recorder: mgr.GetEventRecorder("cloudflaretunnel-controller")},
		APIReader: mgr.GetAPIReader(),
		Reservations: &ownership.Reservations{
			Client:    mgr.GetClient(),
			Reader:    mgr.GetAPIReader(),
			Namespace: cfg.ReservationNamespace,
			Exists:    holderExists(mgr.GetAPIReader(), func() *v1alpha1.CloudflareTunnel { return &v1alpha1.CloudflareTunnel{} }),
		},
		HealthPollInterval: cmp.Or(cfg.TunnelHealthPoll, DefaultTunnelHealthPoll),
	}
	return setupTunnels(mgr, tunnels, 2)
}

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

// Backoff of failed reconciles (transient errors), as Flux's --min-retry-delay: a first retry
// 750 ms later rather than controller-runtime's 5 ms, so a failing API is not hammered and a
// retry reads a cache that has caught up with the status the failure wrote.
const (
	minRetryDelay = 750 * time.Millisecond
	maxRetryDelay = 5 * time.Minute
)

// retryBackoff is controller-runtime's default rate limiter with the slower first retry.
func retryBackoff() workqueue.TypedRateLimiter[reconcile.Request] {
	return workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](minRetryDelay, maxRetryDelay),
		&workqueue.TypedBucketRateLimiter[reconcile.Request]{Limiter: rate.NewLimiter(rate.Limit(10), 100)},
	)
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

// requestsOf lists the objects that match opts and returns a request for each. A map function
// cannot return an error, so a failed list is logged and maps to nothing.
func requestsOf(ctx context.Context, c client.Reader, list client.ObjectList, opts ...client.ListOption) []reconcile.Request {
	if err := c.List(ctx, list, opts...); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Failed to list the objects an event maps to")
		return nil
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(items))
	for _, item := range items {
		if o, ok := item.(client.Object); ok {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(o)})
		}
	}
	return reqs
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

// onlyDeletes passes delete events only.
func onlyDeletes() predicate.Predicate {
	return predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		UpdateFunc:  func(event.UpdateEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}

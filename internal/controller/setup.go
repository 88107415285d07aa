package controller

import (
	"cmp"
	"context"
	"time"

	"golang.org/x/time/rate"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	"github.com/workersvpc/connectivity-operator/internal/account"
	"github.com/workersvpc/connectivity-operator/internal/inventory"
	"github.com/workersvpc/connectivity-operator/internal/ownership"
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

// onlyDeletes passes delete events only.
func onlyDeletes() predicate.Predicate {
	return predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		UpdateFunc:  func(event.UpdateEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}

package controller

import (
	"context"
	"math/rand/v2"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	"github.com/workersvpc/connectivity-operator/internal/account"
	"github.com/workersvpc/connectivity-operator/internal/cloudflare"
	"github.com/workersvpc/connectivity-operator/internal/inventory"
	"github.com/workersvpc/connectivity-operator/internal/ownership"
)

// ClientFor builds a Cloudflare client for one account and credential. main wires it to the
// configured API URL and the per-credential rate limiter; tests wire it to the fake API.
type ClientFor func(acct *account.Account, creds cloudflare.Credentials) (cloudflare.Client, error)

// Timings the reconcilers use. They are variables of the reconcilers, not constants, so the
// envtest suites can run a resync in seconds.
const (
	// DefaultResyncInterval is how often a Ready service is compared with Cloudflare.
	DefaultResyncInterval = 10 * time.Minute
	// credentialsRetry is the slow retry after Cloudflare rejected credentials: a freshly made
	// token can answer 403 for a while, but retrying faster would only burn the budget.
	credentialsRetry = 10 * time.Minute
	// rateLimitedRetry is the wait after a 429 that carried no Retry-After: Cloudflare blocks a
	// token for 5 minutes once it goes over its budget.
	rateLimitedRetry = 5 * time.Minute
	// createCheckMaxAge bounds how old the account's list may be when deciding that a name is
	// free before a create; concurrent creates share one list call.
	createCheckMaxAge = 15 * time.Second
)

// ConnectivityServiceReconciler keeps one Cloudflare connectivity service per ConnectivityService.
type ConnectivityServiceReconciler struct {
	client.Client
	*dialer
	// Reservations hold the names objects create, claim, rename and delete services under.
	Reservations *ownership.Reservations
	// Inventory is the shared per-account service list, refreshed once per ResyncInterval.
	Inventory *inventory.Inventory
	reporter
	// DNS is how serviceRef hosts are named and resolved.
	DNS ClusterDNS
}

// +kubebuilder:rbac:groups=connectivity.workersvpc.dev,resources=connectivityservices,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=connectivity.workersvpc.dev,resources=connectivityservices/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=connectivity.workersvpc.dev,resources=connectivityservices/finalizers,verbs=update
// +kubebuilder:rbac:groups=connectivity.workersvpc.dev,resources=cloudflareaccounts;clustercloudflareaccounts,verbs=get;list;watch
// +kubebuilder:rbac:groups=connectivity.workersvpc.dev,resources=cloudflaretunnels,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile is the fixed skeleton: read, defer the one status patch, then delete or converge.
func (r *ConnectivityServiceReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	s, err := newScope(ctx, r.Client, req, &v1alpha1.ConnectivityService{}, copyServiceStatus)
	if s == nil {
		return ctrl.Result{}, err
	}
	defer s.patch.finish(ctx, &result, &retErr)
	obj := s.obj

	if !obj.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, s)
	}
	if suspended(obj) {
		return ctrl.Result{}, nil
	}
	defer r.exportAfter(ctx, obj, &result, &retErr)
	// The finalizer is written with the first record that a remote write may happen (the create
	// intent, or a claimed service id), never later: an object released without it has nothing
	// in Cloudflare to delete.
	return r.reconcileNormal(ctx, s)
}

// reconcileNormal connects to the object's account, then creates or converges the service.
func (r *ConnectivityServiceReconciler) reconcileNormal(ctx context.Context, s *serviceScope) (ctrl.Result, error) {
	conn, res, err := r.connect(ctx, s.obj)
	if conn == nil {
		return res, err
	}
	s.conn = conn
	s.obj.Status.AccountID = s.accountID()
	defer handledRequest(s.obj)
	ctx, res, ok, err := r.resolveTunnelRefs(ctx, s.obj, s.accountID())
	if !ok {
		return res, err
	}
	ctx, res, ok, err = r.resolveServiceRef(ctx, s.obj)
	if !ok {
		return res, err
	}
	if observing(s.obj) {
		return r.reconcileObserve(ctx, s)
	}
	if id := recordedID(s.obj); id != "" {
		return r.reconcileRecorded(ctx, s, id)
	}
	return r.reconcileCreate(ctx, s)
}

// connect resolves the object's account and credentials; see dialer.connect.
func (r *ConnectivityServiceReconciler) connect(ctx context.Context, obj *v1alpha1.ConnectivityService) (*connection, ctrl.Result, error) {
	return r.dialer.connect(ctx, obj, account.RefFor(obj), func(reason, message string) { r.stall(obj, reason, message) })
}

// resync is the result for a converged object; see jittered.
func (r *ConnectivityServiceReconciler) resync() ctrl.Result {
	return jittered(r.ResyncInterval)
}

// jittered comes back after interval, plus up to a tenth of it at random, so that a thousand
// objects do not all come back in the same second.
func jittered(interval time.Duration) ctrl.Result {
	jitter := time.Duration(rand.Int64N(int64(interval)/10 + 1))
	return ctrl.Result{RequeueAfter: interval + jitter}
}

func copyServiceStatus(dst, src client.Object) {
	dst.(*v1alpha1.ConnectivityService).Status = *src.(*v1alpha1.ConnectivityService).Status.DeepCopy()
}

// exportAfter writes the export ConfigMap at the end of a pass that left the object without an
// error; a failure to write it is the pass's error.
func (r *ConnectivityServiceReconciler) exportAfter(ctx context.Context, obj *v1alpha1.ConnectivityService, _ *ctrl.Result, retErr *error) {
	if *retErr != nil {
		return
	}
	*retErr = r.exportBinding(ctx, obj)
}

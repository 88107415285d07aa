package controller

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"k8s.io/client-go/tools/events"
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
	// Accounts resolves account objects and reads their Secrets (uncached).
	Accounts *account.Resolver
	// ClientFor builds the Cloudflare client of an account.
	ClientFor ClientFor
	// Reservations hold the names objects create, claim, rename and delete services under.
	Reservations *ownership.Reservations
	// Inventory is the shared per-account service list, refreshed once per ResyncInterval.
	Inventory *inventory.Inventory
	// Recorder emits events on the objects.
	Recorder events.EventRecorder
	// ResyncInterval is how often a Ready service is compared with Cloudflare.
	ResyncInterval time.Duration
	// Now is the clock used for create intents; tests may replace it.
	Now func() time.Time

	// lastCredentials holds, per account object, the credentials this process last read. They
	// serve only deletes whose Secret is already gone, such as when a namespace is deleted with
	// its Secret, its account and its services at once: the services can still delete their
	// Cloudflare services instead of getting stuck.
	lastCredentials sync.Map
}

// +kubebuilder:rbac:groups=connectivity.workersvpc.dev,resources=connectivityservices,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=connectivity.workersvpc.dev,resources=connectivityservices/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=connectivity.workersvpc.dev,resources=connectivityservices/finalizers,verbs=update
// +kubebuilder:rbac:groups=connectivity.workersvpc.dev,resources=cloudflareaccounts;clustercloudflareaccounts,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile is the fixed skeleton: read, defer the one status patch, then delete or converge.
func (r *ConnectivityServiceReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	obj := &v1alpha1.ConnectivityService{}
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	patcher := newStatusPatcher(obj)
	defer finishWithStatus(ctx, r.Client, patcher, obj, copyServiceStatus, &result, &retErr)

	if !obj.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, obj)
	}
	// The finalizer is written with the first record that a remote write may happen (the create
	// intent, or a claimed service id), never later: an object released without it has nothing
	// in Cloudflare to delete.
	return r.reconcileNormal(ctx, obj, patcher)
}

// reconcileNormal connects to the object's account, then creates or converges the service.
func (r *ConnectivityServiceReconciler) reconcileNormal(ctx context.Context, obj *v1alpha1.ConnectivityService, patcher *statusPatcher) (ctrl.Result, error) {
	conn, res, err := r.connect(ctx, obj)
	if conn == nil {
		return res, err
	}
	obj.Status.AccountID = conn.acct.AccountID
	if id := recordedID(obj); id != "" {
		return r.reconcileRecorded(ctx, obj, conn, patcher, id)
	}
	return r.reconcileCreate(ctx, obj, conn, patcher)
}

// connection is a resolved account with a client for it.
type connection struct {
	acct *account.Account
	cl   cloudflare.Client
}

// connect resolves the account and credentials. When they are not usable it sets the condition
// that says why and returns a nil connection with the result to return.
func (r *ConnectivityServiceReconciler) connect(ctx context.Context, obj *v1alpha1.ConnectivityService) (*connection, ctrl.Result, error) {
	ref := account.RefFor(obj)
	acct, err := r.Accounts.Get(ctx, ref)
	if errors.Is(err, account.ErrAccountNotFound) {
		markReconciling(obj, v1alpha1.ReasonAccountNotReady, accountMissingMessage(ref))
		return nil, ctrl.Result{RequeueAfter: r.ResyncInterval}, nil
	}
	if err != nil {
		return nil, ctrl.Result{}, err
	}
	if !acct.Ready() {
		markReconciling(obj, v1alpha1.ReasonAccountNotReady, accountNotReadyMessage(acct))
		return nil, ctrl.Result{RequeueAfter: r.ResyncInterval}, nil
	}
	conn, err := r.dial(ctx, acct)
	switch {
	case errors.Is(err, account.ErrSecretNotFound) || errors.Is(err, account.ErrSecretIncomplete):
		markReconciling(obj, v1alpha1.ReasonCredentialsNotFound, secretMessage(acct, err))
		return nil, ctrl.Result{RequeueAfter: r.ResyncInterval}, nil
	case errors.Is(err, account.ErrCredentialsMalformed) || errors.Is(err, cloudflare.ErrInvalid):
		// Credentials no client can be made with: a person must fix the Secret, whose change
		// wakes this object.
		r.stall(obj, v1alpha1.ReasonCredentialsInvalid, malformedMessage(acct))
		return nil, ctrl.Result{RequeueAfter: credentialsRetry}, nil
	}
	return conn, ctrl.Result{}, err
}

// dial reads the account's credentials and builds its client.
func (r *ConnectivityServiceReconciler) dial(ctx context.Context, acct *account.Account) (*connection, error) {
	creds, err := r.Accounts.Credentials(ctx, acct)
	if err != nil {
		return nil, err
	}
	r.lastCredentials.Store(acct.Ref.String(), creds)
	return r.connectWith(acct, creds)
}

// connectWith builds the account's client from credentials already read.
func (r *ConnectivityServiceReconciler) connectWith(acct *account.Account, creds cloudflare.Credentials) (*connection, error) {
	cl, err := r.ClientFor(acct, creds)
	if err != nil {
		return nil, err
	}
	return &connection{acct: acct, cl: cl}, nil
}

// resync is the result for a converged object: come back after the resync interval, plus up to
// a tenth of it at random so that a thousand objects do not all come back in the same second.
func (r *ConnectivityServiceReconciler) resync() ctrl.Result {
	jitter := time.Duration(rand.Int64N(int64(r.ResyncInterval)/10 + 1))
	return ctrl.Result{RequeueAfter: r.ResyncInterval + jitter}
}

// patchMeta changes the object's metadata (finalizer, annotations) with optimistic locking, so
// two writers cannot both believe they recorded a create intent. It keeps the in-memory status,
// which the deferred patch still has to write.
func (r *ConnectivityServiceReconciler) patchMeta(ctx context.Context, obj *v1alpha1.ConnectivityService, mutate func()) error {
	before := obj.DeepCopy()
	status := obj.Status.DeepCopy()
	mutate()
	err := r.Patch(ctx, obj, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
	obj.Status = *status
	return err
}

func copyServiceStatus(dst, src client.Object) {
	dst.(*v1alpha1.ConnectivityService).Status = *src.(*v1alpha1.ConnectivityService).Status.DeepCopy()
}

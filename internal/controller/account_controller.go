package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	"github.com/workersvpc/connectivity-operator/internal/account"
	"github.com/workersvpc/connectivity-operator/internal/cloudflare"
	"github.com/workersvpc/connectivity-operator/internal/conditions"
)

// DefaultAccountVerifyInterval is how often Ready credentials are verified again. A Secret change
// verifies at once, so this only catches tokens revoked or expired inside Cloudflare.
const DefaultAccountVerifyInterval = time.Hour

// accountReleaseRetry is how often a deleted account in use looks again for its services; their
// deletions also wake it at once.
const accountReleaseRetry = 30 * time.Second

// SecretTracker is told which Secret each account object reads, so that a change of that Secret
// (and only of that Secret) reaches the account and its services.
type SecretTracker interface {
	Track(owner string, secret types.NamespacedName)
	Untrack(owner string)
}

// accountVerifier is the reconcile logic both account kinds share: read the Secret, verify the
// credentials with Cloudflare, and report the outcome as conditions.
type accountVerifier struct {
	client.Client
	Accounts       *account.Resolver
	ClientFor      ClientFor
	Recorder       events.EventRecorder
	Secrets        SecretTracker
	VerifyInterval time.Duration
	// verified remembers the last successful verification per account object, shared by the
	// reconcilers of both kinds.
	verified *verifiedSet
}

// verifiedSet remembers what was verified, so that several triggers for one unchanged account
// (its creation and the first event of its Secret's watch, say) cost one verification.
type verifiedSet struct {
	mu   sync.Mutex
	seen map[string]verification
}

// verification is an account's generation and Secret version when its credentials were verified.
type verification struct {
	generation    int64
	secretVersion string
	at            time.Time
}

// fresh tells whether this state of the account was verified less than maxAge ago.
func (s *verifiedSet) fresh(key string, v verification, maxAge time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	last, ok := s.seen[key]
	return ok && last.generation == v.generation && last.secretVersion == v.secretVersion && v.at.Sub(last.at) < maxAge
}

func (s *verifiedSet) set(key string, v verification) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen[key] = v
}

func (s *verifiedSet) forget(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.seen, key)
}

// reconcileAccount protects an account in use from deletion, and verifies it otherwise.
func (v *accountVerifier) reconcileAccount(ctx context.Context, obj conditionedObject, p *patcher, acct *account.Account, observed *int64) (ctrl.Result, error) {
	if !obj.GetDeletionTimestamp().IsZero() {
		return v.releaseAccount(ctx, obj, p, acct)
	}
	if !controllerutil.ContainsFinalizer(obj, v1alpha1.AccountInUseFinalizer) {
		if err := p.meta(ctx, func() {
			controllerutil.AddFinalizer(obj, v1alpha1.AccountInUseFinalizer)
		}); err != nil {
			return ctrl.Result{}, err
		}
	}
	return v.verify(ctx, obj, acct, observed)
}

// releaseAccount lets a deleted account go once no ConnectivityService or CloudflareTunnel uses
// it; until then they can still reach Cloudflare to delete what they made.
func (v *accountVerifier) releaseAccount(ctx context.Context, obj conditionedObject, p *patcher, acct *account.Account) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(obj, v1alpha1.AccountInUseFinalizer) {
		return ctrl.Result{}, nil
	}
	for _, users := range []struct {
		kind  string
		list  client.ObjectList
		index string
	}{
		{"ConnectivityService", &v1alpha1.ConnectivityServiceList{}, indexAccountRef},
		{"CloudflareTunnel", &v1alpha1.CloudflareTunnelList{}, indexTunnelAccount},
	} {
		if err := v.List(ctx, users.list, client.MatchingFields{users.index: acct.Ref.String()}); err != nil {
			return ctrl.Result{}, err
		}
		if items, _ := meta.ExtractList(users.list); len(items) > 0 {
			first := items[0].(client.Object)
			conditions.MarkReconciling(obj, v1alpha1.ReasonDeleting, fmt.Sprintf(
				"waiting for the %d %s(s) that use this account (such as %s/%s) to be deleted first",
				len(items), users.kind, first.GetNamespace(), first.GetName()))
			return ctrl.Result{RequeueAfter: accountReleaseRetry}, nil
		}
	}
	if v.Secrets != nil {
		v.Secrets.Untrack(acct.Ref.String())
	}
	v.verified.forget(acct.Ref.String())
	err := p.meta(ctx, func() {
		controllerutil.RemoveFinalizer(obj, v1alpha1.AccountInUseFinalizer)
	})
	return ctrl.Result{}, client.IgnoreNotFound(err)
}

// verify checks the account's credentials and sets its conditions.
func (v *accountVerifier) verify(ctx context.Context, obj conditionedObject, acct *account.Account, observed *int64) (ctrl.Result, error) {
	if v.Secrets != nil {
		v.Secrets.Track(acct.Ref.String(), acct.Secret)
	}
	creds, secretVersion, err := v.Accounts.VersionedCredentials(ctx, acct)
	if errors.Is(err, account.ErrSecretNotFound) || errors.Is(err, account.ErrSecretIncomplete) {
		v.verified.forget(acct.Ref.String())
		conditions.MarkReconciling(obj, v1alpha1.ReasonSecretNotFound, secretMessage(acct, err))
		return ctrl.Result{RequeueAfter: v.VerifyInterval}, nil
	}
	if errors.Is(err, account.ErrCredentialsMalformed) {
		v.verified.forget(acct.Ref.String())
		v.stallAccount(obj, v1alpha1.ReasonCredentialsInvalid, malformedMessage(acct))
		*observed = obj.GetGeneration()
		return ctrl.Result{RequeueAfter: v.VerifyInterval}, nil
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	state := verification{generation: obj.GetGeneration(), secretVersion: secretVersion, at: time.Now()}
	if v.verified.fresh(acct.Ref.String(), state, v.VerifyInterval) {
		return ctrl.Result{RequeueAfter: v.VerifyInterval}, nil
	}
	cl, err := v.ClientFor(acct, creds)
	if err != nil {
		return ctrl.Result{}, err
	}
	ctrl.LoggerFrom(ctx).V(1).Info("Verifying Cloudflare credentials", "account", acct.AccountID)
	if err := cl.Verify(ctx); err != nil {
		v.verified.forget(acct.Ref.String())
		return v.verifyFailed(ctx, obj, acct, err, observed)
	}
	v.verified.set(acct.Ref.String(), state)
	conditions.MarkReady(obj, v1alpha1.ReasonVerified, fmt.Sprintf("credentials verified for Cloudflare account %s", acct.AccountID))
	*observed = obj.GetGeneration()
	return ctrl.Result{RequeueAfter: v.VerifyInterval}, nil
}

// verifyFailed sorts a failed verification with the one classification (classify): only a
// refusal of the credentials is terminal for an account, which has no spec the API judges;
// anything else says nothing about the credentials and is tried again (verifyDeferred).
func (v *accountVerifier) verifyFailed(ctx context.Context, obj conditionedObject, acct *account.Account, err error, observed *int64) (ctrl.Result, error) {
	var message string
	b, reason := classify(err)
	switch {
	case b == terminal && reason == v1alpha1.ReasonCredentialsInvalid:
		message = fmt.Sprintf("Cloudflare rejected the credentials in Secret %s: put a valid, active API token under key %q (%s)",
			acct.Secret, account.KeyAPIToken, cloudflare.Cause(err))
	case b == terminal && reason == v1alpha1.ReasonPermissionDenied:
		message = fmt.Sprintf("the credentials in Secret %s lack the Workers VPC permission on account %s: grant %q (%s)",
			acct.Secret, acct.AccountID, servicePermission, cloudflare.Cause(err))
	default:
		return v.verifyDeferred(ctx, obj, err)
	}
	v.stallAccount(obj, reason, message)
	*observed = obj.GetGeneration()
	return ctrl.Result{RequeueAfter: credentialsRetry}, nil
}

// verifyDeferred handles a verification that could not be made (rate limited, a 5xx, no answer):
// it says nothing about the credentials, so an account verified before stays Ready, and its
// services with it; only an account never verified shows that it waits.
func (v *accountVerifier) verifyDeferred(ctx context.Context, obj conditionedObject, err error) (ctrl.Result, error) {
	ctrl.LoggerFrom(ctx).Info("Could not verify Cloudflare credentials; trying again later", "error", err.Error())
	wait, limited := cloudflare.RetryAfter(err)
	if b, _ := classify(err); !limited && b == waiting {
		wait, limited = rateLimitedRetry, true
	}
	if ready := meta.FindStatusCondition(obj.GetConditions(), v1alpha1.ConditionReady); ready == nil || ready.Status != metav1.ConditionTrue {
		if limited {
			conditions.MarkReconciling(obj, v1alpha1.ReasonRateLimited, "the Cloudflare API rate limit of these credentials is reached; verification resumes by itself")
		} else {
			conditions.MarkReconciling(obj, v1alpha1.ReasonAPIError, "verifying the credentials failed ("+cloudflare.Cause(err)+"); retrying with backoff")
		}
	}
	if limited {
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	return ctrl.Result{}, err
}

// stallAccount marks a terminal failure of an account and emits its warning event once.
func (v *accountVerifier) stallAccount(obj conditionedObject, reason, message string) {
	if conditions.MarkStalled(obj, reason, message) {
		v.Recorder.Eventf(obj, nil, "Warning", reason, "Verify", "%s", message)
	}
}

// accountObject is either account kind, as the account reconciler sees it.
type accountObject interface {
	conditionedObject
	GetAccountStatus() *v1alpha1.AccountStatus
}

// accountReconciler verifies the credentials of one account kind: the namespaced
// CloudflareAccount and the cluster-scoped ClusterCloudflareAccount share it, as cert-manager
// serves Issuer and ClusterIssuer with one controller.
type accountReconciler[T accountObject] struct {
	accountVerifier
	// kind is the account kind this reconciler serves.
	kind v1alpha1.AccountKind
	// newObject returns an empty object of the kind.
	newObject func() T
	// resolve reads the account (id, Secret, rate limit) from an object of the kind.
	resolve func(*account.Resolver, T) *account.Account
}

// +kubebuilder:rbac:groups=connectivity.workersvpc.dev,resources=cloudflareaccounts;clustercloudflareaccounts,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=connectivity.workersvpc.dev,resources=cloudflareaccounts/status;clustercloudflareaccounts/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=connectivity.workersvpc.dev,resources=cloudflareaccounts/finalizers;clustercloudflareaccounts/finalizers,verbs=update

// Reconcile verifies one account object; a deleted one stops the watch on its Secret.
func (r *accountReconciler[T]) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	obj := r.newObject()
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		if r.Secrets != nil {
			ref := account.Ref{Kind: r.kind, Namespace: req.Namespace, Name: req.Name}
			r.Secrets.Untrack(ref.String())
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	p := newPatcher(r.Client, obj, copyAccountStatus)
	defer p.finish(ctx, &result, &retErr)
	return r.reconcileAccount(ctx, obj, p, r.resolve(r.Accounts, obj), &obj.GetAccountStatus().ObservedGeneration)
}

func copyAccountStatus(dst, src client.Object) {
	*dst.(accountObject).GetAccountStatus() = *src.(accountObject).GetAccountStatus().DeepCopy()
}

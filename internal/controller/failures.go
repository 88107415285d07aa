package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	"github.com/workersvpc/connectivity-operator/internal/cloudflare"
	"github.com/workersvpc/connectivity-operator/internal/metrics"
)

// apiFailure sorts a failed Cloudflare call into exactly one bucket (house style):
//   - terminal (the API refused the spec or the credentials): Stalled, one warning event, and no
//     retry until the spec, the Secret or the account changes (credentials get a slow retry);
//   - waiting (rate limited): Reconciling with RequeueAfter and no error;
//   - transient (5xx, timeouts, unknown outcomes): the error goes to the workqueue's backoff.
func (r *ConnectivityServiceReconciler) apiFailure(ctx context.Context, obj *v1alpha1.ConnectivityService, err error) (ctrl.Result, error) {
	switch {
	case errors.Is(err, cloudflare.ErrRateLimited):
		wait, ok := cloudflare.RetryAfter(err)
		if !ok {
			wait = rateLimitedRetry
		}
		metrics.ReconcileError(v1alpha1.ReasonRateLimited)
		markReconciling(obj, v1alpha1.ReasonRateLimited, fmt.Sprintf(
			"the Cloudflare API rate limit of this account's credentials is reached; calls resume at %s",
			time.Now().Add(wait).UTC().Format(time.RFC3339)))
		return ctrl.Result{RequeueAfter: wait}, nil
	case errors.Is(err, cloudflare.ErrTunnelNotFound):
		return r.stall(obj, v1alpha1.ReasonTunnelNotFound, fmt.Sprintf(
			"the tunnel in spec.host is not in Cloudflare account %s: fix the tunnelID (%v)", obj.Status.AccountID, err)), nil
	case errors.Is(err, cloudflare.ErrInvalid), errors.Is(err, cloudflare.ErrNameConflict):
		return r.stall(obj, v1alpha1.ReasonInvalidSpec, fmt.Sprintf("Cloudflare rejected the spec: fix it (%v)", err)), nil
	case errors.Is(err, cloudflare.ErrUnauthorized):
		r.stall(obj, v1alpha1.ReasonCredentialsInvalid, fmt.Sprintf(
			"Cloudflare rejected the account's credentials: put a valid API token in the account's Secret (%v)", err))
		return ctrl.Result{RequeueAfter: credentialsRetry}, nil
	case errors.Is(err, cloudflare.ErrForbidden):
		r.stall(obj, v1alpha1.ReasonPermissionDenied, fmt.Sprintf(
			"the API token lacks the Workers VPC permission: grant it \"Connectivity Directory Admin\" on the account (%v)", err))
		return ctrl.Result{RequeueAfter: credentialsRetry}, nil
	}
	metrics.ReconcileError(v1alpha1.ReasonAPIError)
	ctrl.LoggerFrom(ctx).Error(err, "Cloudflare API call failed; retrying with backoff")
	markReconciling(obj, v1alpha1.ReasonAPIError, fmt.Sprintf("Cloudflare API call failed, retrying with backoff: %v", err))
	return ctrl.Result{}, err
}

// stall marks a terminal failure and emits its warning event once, not on every retry. Its
// result has no requeue on purpose: only a change of the spec, Secret or account retries.
//
//nolint:unparam // the empty result is the point, and callers return it directly
func (r *ConnectivityServiceReconciler) stall(obj *v1alpha1.ConnectivityService, reason, message string) ctrl.Result {
	metrics.ReconcileError(reason)
	if markStalled(obj, reason, message) {
		r.Recorder.Eventf(obj, nil, "Warning", reason, "Reconcile", "%s", message)
	}
	obj.Status.ObservedGeneration = obj.Generation
	return ctrl.Result{}
}

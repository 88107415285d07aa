package controller

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	"github.com/workersvpc/connectivity-operator/internal/cloudflare"
	"github.com/workersvpc/connectivity-operator/internal/conditions"
	"github.com/workersvpc/connectivity-operator/internal/metrics"
	"github.com/workersvpc/connectivity-operator/internal/ratelimit"
)

// observedObject is a kind whose status records the generation its conditions describe.
type observedObject interface {
	conditionedObject
	SetObservedGeneration(int64)
}

// reporter turns outcomes into conditions and events, the same way for every kind.
type reporter struct {
	// Recorder emits events on the objects.
	Recorder events.EventRecorder
}

// Permissions the API tokens need, named as Cloudflare's dashboard names them, for the
// PermissionDenied messages.
const (
	servicePermission = "Connectivity Directory Admin"
	tunnelPermission  = "Cloudflare Tunnel Edit"
)

// bucket is where a failed Cloudflare call lands: exactly one of three (house style; Flux's
// ComputeReconcileResult is the model).
type bucket int

const (
	// transient: 5xx, timeouts, unknown outcomes. The error goes to the workqueue's backoff.
	transient bucket = iota
	// waiting: rate limited. Reconciling with RequeueAfter and no error.
	waiting
	// terminal: the API refused the spec or the credentials. Stalled, one warning event, and no
	// retry until the spec, the Secret or the account changes (credentials get a slow retry).
	terminal
)

// classify is the one classification of a failed Cloudflare call, used by every kind: its
// bucket, and the condition reason that names its cause.
func classify(err error) (bucket, string) {
	switch {
	case errors.Is(err, cloudflare.ErrRateLimited):
		return waiting, v1alpha1.ReasonRateLimited
	case errors.Is(err, cloudflare.ErrTunnelNotFound):
		return terminal, v1alpha1.ReasonTunnelNotFound
	case errors.Is(err, cloudflare.ErrInvalid), errors.Is(err, cloudflare.ErrNameConflict):
		return terminal, v1alpha1.ReasonInvalidSpec
	case errors.Is(err, cloudflare.ErrUnauthorized):
		return terminal, v1alpha1.ReasonCredentialsInvalid
	case errors.Is(err, cloudflare.ErrForbidden):
		return terminal, v1alpha1.ReasonPermissionDenied
	}
	return transient, v1alpha1.ReasonAPIError
}

// apiFailure reports a failed Cloudflare call by its bucket (see classify). permission names
// what the token needs for the kind of remote object the call was about.
func (rep reporter) apiFailure(ctx context.Context, obj observedObject, err error, permission string) (ctrl.Result, error) {
	switch b, reason := classify(err); b {
	case waiting:
		return rep.rateLimited(obj, err), nil
	case terminal:
		return rep.refused(obj, reason, err, permission), nil
	}
	metrics.ReconcileError(v1alpha1.ReasonAPIError)
	ctrl.LoggerFrom(ctx).Error(err, "Cloudflare API call failed; retrying with backoff")
	rep.waiting(obj, v1alpha1.ReasonAPIError, "Cloudflare API call failed ("+cloudflare.Cause(err)+"); retrying with backoff", err)
	return ctrl.Result{}, err
}

// refused stalls on a terminal failure with the message for its reason.
func (rep reporter) refused(obj observedObject, reason string, err error, permission string) ctrl.Result {
	switch reason {
	case v1alpha1.ReasonCredentialsInvalid:
		rep.stall(obj, reason, fmt.Sprintf(
			"Cloudflare rejected the account's credentials: put a valid API token in the account's Secret (%s)", cloudflare.Cause(err)))
		return ctrl.Result{RequeueAfter: credentialsRetry}
	case v1alpha1.ReasonPermissionDenied:
		return rep.permissionDenied(obj, err, permission)
	case v1alpha1.ReasonTunnelNotFound:
		return rep.stall(obj, reason, fmt.Sprintf("Cloudflare does not know the tunnel the spec names: fix it (%s)", cloudflare.Cause(err)))
	}
	return rep.stall(obj, v1alpha1.ReasonInvalidSpec, fmt.Sprintf("Cloudflare rejected the spec: fix it (%s)", cloudflare.Cause(err)))
}

// permissionDenied stalls on a token that lacks permission, naming what to grant; credentials
// are looked at again every credentialsRetry, and at once when the account's Secret changes.
func (rep reporter) permissionDenied(obj observedObject, err error, permission string) ctrl.Result {
	rep.stall(obj, v1alpha1.ReasonPermissionDenied, fmt.Sprintf(
		"the API token lacks a permission: grant it %q on the account (%s)", permission, cloudflare.Cause(err)))
	return ctrl.Result{RequeueAfter: credentialsRetry}
}

// rateLimited waits for the budget: quietly for the operator's own pacing, with one warning for
// a 429 from Cloudflare.
func (rep reporter) rateLimited(obj conditionedObject, err error) ctrl.Result {
	wait, ok := cloudflare.RetryAfter(err)
	if !ok {
		wait = rateLimitedRetry
	}
	if budgetWait(err) {
		// The operator's own pacing, not Cloudflare's refusal: no warning, just a wait.
		conditions.MarkReconciling(obj, v1alpha1.ReasonRateLimited, "waiting for room in this account's API budget; calls resume by themselves")
		return ctrl.Result{RequeueAfter: wait}
	}
	metrics.ReconcileError(v1alpha1.ReasonRateLimited)
	rep.waiting(obj, v1alpha1.ReasonRateLimited,
		"the Cloudflare API rate limit of this account's credentials is reached; calls resume by themselves", err)
	return ctrl.Result{RequeueAfter: wait}
}

// apiFailure is reporter.apiFailure for services, which also name the tunnel the API did not know.
func (r *ConnectivityServiceReconciler) apiFailure(ctx context.Context, obj *v1alpha1.ConnectivityService, err error) (ctrl.Result, error) {
	if errors.Is(err, cloudflare.ErrTunnelNotFound) {
		return r.stall(obj, v1alpha1.ReasonTunnelNotFound, fmt.Sprintf(
			"the tunnel in spec.host is not in Cloudflare account %s: fix the tunnelID (%s)", obj.Status.AccountID, cloudflare.Cause(err))), nil
	}
	return r.reporter.apiFailure(ctx, obj, err, servicePermission)
}

// waiting marks a wait that resolves by itself, with a message that is the same for every retry
// of one cause (so retries write no status), and one Warning event per cause, which carries the
// request's details (the CF-Ray id Cloudflare support asks for).
func (rep reporter) waiting(obj conditionedObject, reason, message string, err error) {
	prev := meta.FindStatusCondition(obj.GetConditions(), v1alpha1.ConditionReconciling)
	conditions.MarkReconciling(obj, reason, message)
	if prev == nil || prev.Status != metav1.ConditionTrue || prev.Reason != reason || prev.Message != message {
		rep.Recorder.Eventf(obj, nil, "Warning", reason, "Reconcile", "%s: %v", message, err)
	}
}

// observationFailed handles a failed look at a remote object that was Ready for this generation:
// it says nothing about the object, so Ready stays as it was (Argo CD and Flux health do not flap
// with Cloudflare's), and the object looks again at its next resync. A log line and the
// observation failure metric show it.
func observationFailed(ctx context.Context, accountID string, err error, resync ctrl.Result) ctrl.Result {
	metrics.ObservationFailed(accountID)
	ctrl.LoggerFrom(ctx).Info("Could not observe the Cloudflare object; keeping its last observed state", "error", err.Error())
	if wait, ok := cloudflare.RetryAfter(err); ok && wait > resync.RequeueAfter {
		return ctrl.Result{RequeueAfter: wait}
	}
	return resync
}

// budgetWait tells whether err is the operator's own budget asking a call to wait, rather than
// a 429 (from Cloudflare, or held after one).
func budgetWait(err error) bool {
	apiErr, ok := errors.AsType[*cloudflare.APIError](err)
	return ok && apiErr.Code == ratelimit.CodeBudgetWait
}

// readyNow tells whether the object is Ready for its current generation.
func readyNow(obj conditionedObject, observedGeneration int64) bool {
	c := meta.FindStatusCondition(obj.GetConditions(), v1alpha1.ConditionReady)
	return c != nil && c.Status == metav1.ConditionTrue && observedGeneration == obj.GetGeneration()
}

// ready records success for the object's current generation: Ready, and status.observedGeneration
// with it, so that kstatus reads the object as Current.
func ready(obj observedObject, reason, message string) {
	conditions.MarkReady(obj, reason, message)
	obj.SetObservedGeneration(obj.GetGeneration())
}

// stall marks a terminal failure and emits its warning event once, not on every retry. Its
// result has no requeue on purpose: only a change of the spec, Secret or account retries.
//
//nolint:unparam // the empty result is the point, and callers return it directly
func (rep reporter) stall(obj observedObject, reason, message string) ctrl.Result {
	metrics.ReconcileError(reason)
	if conditions.MarkStalled(obj, reason, message) {
		rep.Recorder.Eventf(obj, nil, "Warning", reason, "Reconcile", "%s", message)
	}
	obj.SetObservedGeneration(obj.GetGeneration())
	return ctrl.Result{}
}

package controller

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	"github.com/workersvpc/connectivity-operator/internal/account"
	"github.com/workersvpc/connectivity-operator/internal/cloudflare"
	"github.com/workersvpc/connectivity-operator/internal/conditions"
	"github.com/workersvpc/connectivity-operator/internal/ownership"
)

// DefaultTunnelHealthPoll is how often a tunnel that Cloudflare does not report healthy yet is
// looked at again: connectors come up within seconds to minutes, and a tunnel has no event to
// wake the operator when they do.
const DefaultTunnelHealthPoll = 30 * time.Second

// Kinds of reservation a CloudflareTunnel holds: the tunnel name it creates under, and the id of
// the tunnel it claimed, so that no two objects create one name or claim one tunnel.
const (
	reservationTunnelName = "tunnel"
	reservationTunnelID   = "tunnelid"
)

// CloudflareTunnelReconciler keeps one Cloudflare tunnel, and the cloudflared connector that runs
// it, per CloudflareTunnel.
type CloudflareTunnelReconciler struct {
	client.Client
	*dialer
	reporter
	// APIReader reads the connector token Secret uncached: the operator never caches Secrets.
	APIReader client.Reader
	// Reservations hold the tunnel names and ids objects create and claim under.
	Reservations *ownership.Reservations
	// HealthPollInterval is how often a tunnel not yet healthy is looked at again.
	HealthPollInterval time.Duration
}

// +kubebuilder:rbac:groups=connectivity.workersvpc.dev,resources=cloudflaretunnels,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=connectivity.workersvpc.dev,resources=cloudflaretunnels/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=connectivity.workersvpc.dev,resources=cloudflaretunnels/finalizers,verbs=update
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;watch;create;update;patch

// Reconcile is the fixed skeleton: read, defer the one status patch, then delete, or make sure
// of the tunnel and then of its connector.
func (r *CloudflareTunnelReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	s, err := newScope(ctx, r.Client, req, &v1alpha1.CloudflareTunnel{}, copyTunnelStatus)
	if s == nil {
		return ctrl.Result{}, err
	}
	defer s.patch.finish(ctx, &result, &retErr)
	obj := s.obj

	if !obj.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, s)
	}
	conn, res, err := r.connect(ctx, obj, account.TunnelRefFor(obj), func(reason, message string) { r.stall(obj, reason, message) })
	if conn == nil {
		return res, err
	}
	s.conn = conn
	obj.Status.AccountID = s.accountID()
	tunnel, token, res, err := r.ensureTunnel(ctx, s)
	if tunnel == nil {
		return res, err
	}
	return r.ensureConnector(ctx, s, tunnel, token)
}

// ensureTunnel returns the object's tunnel: the recorded one, observed, or one created or
// claimed now. token is set when the call that returned the tunnel carried it (a create). A nil
// tunnel means stop and return the result and error.
func (r *CloudflareTunnelReconciler) ensureTunnel(ctx context.Context, s *tunnelScope) (*cloudflare.Tunnel, cloudflare.ConnectorToken, ctrl.Result, error) {
	id := recordedTunnelID(s.obj)
	if id == "" {
		return r.createOrClaim(ctx, s)
	}
	if spec := s.obj.Spec.TunnelID; spec != "" && !strings.EqualFold(spec, id) {
		return nil, cloudflare.ConnectorToken{}, r.stall(s.obj, v1alpha1.ReasonInvalidSpec, fmt.Sprintf(
			"this object already manages tunnel %s, and spec.tunnelID names %s: one object runs one tunnel; "+
				"create another CloudflareTunnel to adopt %s", id, spec, spec)), nil
	}
	tunnel, err := s.conn.cl.GetTunnel(ctx, id)
	switch {
	case errors.Is(err, cloudflare.ErrNotFound) && s.obj.Spec.TunnelID == "":
		res, err := r.recreate(ctx, s, id)
		return nil, cloudflare.ConnectorToken{}, res, err
	case errors.Is(err, cloudflare.ErrNotFound):
		return nil, cloudflare.ConnectorToken{}, r.stall(s.obj, v1alpha1.ReasonInvalidSpec, fmt.Sprintf(
			"spec.tunnelID names tunnel %s, which does not exist in Cloudflare account %s: fix the id, or create a new object without it to have a tunnel made",
			id, s.accountID())), nil
	case err != nil && s.obj.Status.TunnelID == id && readyNow(s.obj, s.obj.Status.ObservedGeneration):
		return nil, cloudflare.ConnectorToken{}, observationFailed(ctx, s.accountID(), err, r.resync()), nil
	case err != nil:
		res, err := r.apiFailure(ctx, s.obj, err)
		return nil, cloudflare.ConnectorToken{}, res, err
	}
	if s.obj.Annotations[v1alpha1.AnnotationTunnelID] != id {
		return r.claim(ctx, s, tunnel, cloudflare.ConnectorToken{}, v1alpha1.ReasonAdopted)
	}
	return tunnel, cloudflare.ConnectorToken{}, ctrl.Result{}, nil
}

// recreate handles a tunnel deleted outside the operator: the record goes, and the next pass
// creates the tunnel again, as the spec still asks for it; the connector's token is replaced then.
func (r *CloudflareTunnelReconciler) recreate(ctx context.Context, s *tunnelScope, gone string) (ctrl.Result, error) {
	if err := r.Reservations.Release(ctx, tunnelIDKey(s.accountID(), gone), tunnelHolder(s.obj)); err != nil {
		return ctrl.Result{}, err
	}
	r.Recorder.Eventf(s.obj, nil, "Normal", "Recreating", "Create", "Cloudflare tunnel %s was deleted outside the operator; creating it again", gone)
	s.obj.Status.TunnelID, s.obj.Status.CreatedAt, s.obj.Status.TunnelStatus, s.obj.Status.Connections = "", nil, "", 0
	conditions.MarkReconciling(s.obj, v1alpha1.ReasonProgressing, "the Cloudflare tunnel was deleted outside the operator; creating it again")
	if err := s.patch.meta(ctx, func() { delete(s.obj.Annotations, v1alpha1.AnnotationTunnelID) }); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: recordChangedRetry}, nil
}

// recordedTunnelID is the tunnel the object stands for: the operator's durable record, or the
// tunnel spec.tunnelID adopts.
func recordedTunnelID(obj *v1alpha1.CloudflareTunnel) string {
	if id := obj.Annotations[v1alpha1.AnnotationTunnelID]; id != "" {
		return id
	}
	return strings.ToLower(obj.Spec.TunnelID)
}

// TunnelName is the tunnel's name in Cloudflare: spec.name, or k8s_<namespace>_<name>, which no
// other object of the cluster can have ('_' is in no Kubernetes name).
func TunnelName(obj *v1alpha1.CloudflareTunnel) string {
	if obj.Spec.Name != "" {
		return obj.Spec.Name
	}
	return "k8s_" + obj.Namespace + "_" + obj.Name
}

// resync is the result for a converged tunnel, with the same jitter as services.
func (r *CloudflareTunnelReconciler) resync() ctrl.Result {
	return jittered(r.ResyncInterval)
}

func tunnelKey(accountID, name string) ownership.Key {
	return ownership.Key{Kind: reservationTunnelName, AccountID: accountID, Name: name}
}

func tunnelIDKey(accountID, id string) ownership.Key {
	return ownership.Key{Kind: reservationTunnelID, AccountID: accountID, Name: id}
}

func tunnelHolder(obj *v1alpha1.CloudflareTunnel) ownership.Holder {
	return ownership.Holder{UID: obj.UID, Namespace: obj.Namespace, Name: obj.Name}
}

func copyTunnelStatus(dst, src client.Object) {
	dst.(*v1alpha1.CloudflareTunnel).Status = *src.(*v1alpha1.CloudflareTunnel).Status.DeepCopy()
}

// apiFailure is reporter.apiFailure for tunnels. Cloudflare answers a token without "Cloudflare
// Tunnel Edit" with 403 code 10000, "Authentication error", the same as a bad token; but the
// account verified this token before any tunnel call, so a 403 here is the missing permission.
func (r *CloudflareTunnelReconciler) apiFailure(ctx context.Context, obj *v1alpha1.CloudflareTunnel, err error) (ctrl.Result, error) {
	if apiErr, ok := errors.AsType[*cloudflare.APIError](err); ok && apiErr.StatusCode == http.StatusForbidden {
		return r.permissionDenied(obj, err, tunnelPermission), nil
	}
	return r.reporter.apiFailure(ctx, obj, err, tunnelPermission)
}

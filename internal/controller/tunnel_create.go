package controller

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	"github.com/workersvpc/connectivity-operator/internal/cloudflare"
	"github.com/workersvpc/connectivity-operator/internal/ownership"
)

// tunnelSecretBytes is the size of the tunnel secret each create attempt sends (Cloudflare asks
// for at least 32 bytes).
const tunnelSecretBytes = 32

// tunnelOutcome is what a step of the create path returns: the tunnel when there is one, its
// connector token when the reply carried it, and otherwise the result and error to return.
type tunnelOutcome struct {
	tunnel *cloudflare.Tunnel
	token  cloudflare.ConnectorToken
	res    ctrl.Result
	err    error
}

func (o tunnelOutcome) unpack() (*cloudflare.Tunnel, cloudflare.ConnectorToken, ctrl.Result, error) {
	return o.tunnel, o.token, o.res, o.err
}

// createOrClaim gives an object without a recorded tunnel its tunnel: the one an earlier attempt
// is proven to have made, or a new one. Nothing happens before the object holds the name's
// reservation, so no other object of the cluster can create or claim the name meanwhile.
func (r *CloudflareTunnelReconciler) createOrClaim(ctx context.Context, s *tunnelScope) (*cloudflare.Tunnel, cloudflare.ConnectorToken, ctrl.Result, error) {
	name := TunnelName(s.obj)
	if res, held, err := r.reserve(ctx, s.obj, tunnelKey(s.accountID(), name), name); !held {
		return nil, cloudflare.ConnectorToken{}, res, err
	}
	intent := ownership.ParseTunnelIntent(s.obj.Annotations[v1alpha1.AnnotationCreateIntent])
	if intent.Name == "" {
		intent = ownership.TunnelIntent{Name: name, At: time.Now().UTC()}
	}
	return r.resolveName(ctx, s, intent).unpack()
}

// resolveName looks the intent's name up. No tunnel: create one. A tunnel whose connector token
// carries a secret one of the intent's attempts sent: it is this object's, made by an attempt
// whose reply was lost. Any other tunnel of the name is someone else's, beyond doubt, since
// nobody else knows those secrets: it is never claimed nor touched.
func (r *CloudflareTunnelReconciler) resolveName(ctx context.Context, s *tunnelScope, intent ownership.TunnelIntent) tunnelOutcome {
	found, err := s.conn.cl.FindTunnelByName(ctx, intent.Name)
	if errors.Is(err, cloudflare.ErrNotFound) {
		return r.create(ctx, s, intent)
	}
	if err != nil {
		return r.failed(ctx, s.obj, err)
	}
	token, err := s.conn.cl.TunnelToken(ctx, found.ID)
	if err != nil {
		return r.failed(ctx, s.obj, err)
	}
	if _, secret, err := token.Parse(); err == nil && intent.Proven(secret) {
		ctrl.LoggerFrom(ctx).Info("Claiming the tunnel an earlier create attempt made", "tunnelID", found.ID)
		return toOutcome(r.claim(ctx, s, found, token, v1alpha1.ReasonCreated))
	}
	if err := r.clearIntent(ctx, s); err != nil {
		return tunnelOutcome{err: err}
	}
	return tunnelOutcome{res: r.stallOwnership(s.obj, tunnelTakenMessage(*found, s.accountID()))}
}

// create records the intent with a fresh secret, calls create once, and claims the reply.
func (r *CloudflareTunnelReconciler) create(ctx context.Context, s *tunnelScope, intent ownership.TunnelIntent) tunnelOutcome {
	secret := make([]byte, tunnelSecretBytes)
	if _, err := rand.Read(secret); err != nil {
		return tunnelOutcome{err: err}
	}
	intent.AddSecret(secret)
	raw, err := intent.Encode()
	if err != nil {
		return tunnelOutcome{err: err}
	}
	if err := s.patch.meta(ctx, func() {
		controllerutil.AddFinalizer(s.obj, v1alpha1.Finalizer)
		metav1.SetMetaDataAnnotation(&s.obj.ObjectMeta, v1alpha1.AnnotationCreateIntent, raw)
	}); err != nil {
		return tunnelOutcome{err: err}
	}
	ctrl.LoggerFrom(ctx).Info("Creating Cloudflare tunnel", "name", intent.Name, "account", s.accountID(), "attempt", intent.Attempt)
	created, token, err := s.conn.cl.CreateTunnel(ctx, intent.Name, secret)
	switch {
	case errors.Is(err, cloudflare.ErrNameConflict):
		// Taken meanwhile, or by an earlier attempt of this intent: the token tells which.
		return r.resolveName(ctx, s, intent)
	case err != nil && !outcomeUnknown(err) && intent.Attempt == 1:
		// A definite refusal of the only attempt: nothing was made.
		if clearErr := r.clearIntent(ctx, s); clearErr != nil {
			return tunnelOutcome{err: clearErr}
		}
		return r.failed(ctx, s.obj, err)
	case err != nil:
		// The intent stays: the next pass finds out by name whether an attempt committed.
		return r.failed(ctx, s.obj, err)
	}
	r.Recorder.Eventf(s.obj, nil, "Normal", v1alpha1.ReasonCreated, "Create", "Created Cloudflare tunnel %s named %q", created.ID, created.Name)
	return toOutcome(r.claim(ctx, s, created, token, v1alpha1.ReasonCreated))
}

// claim makes the tunnel this object's: it takes the id's reservation, then records the id in
// metadata with the finalizer and the end of the intent, in one write, before status shows it.
func (r *CloudflareTunnelReconciler) claim(ctx context.Context, s *tunnelScope, tunnel *cloudflare.Tunnel, token cloudflare.ConnectorToken, reason string) (*cloudflare.Tunnel, cloudflare.ConnectorToken, ctrl.Result, error) {
	if res, held, err := r.reserve(ctx, s.obj, tunnelIDKey(s.accountID(), tunnel.ID), tunnel.ID); !held {
		return nil, cloudflare.ConnectorToken{}, res, err
	}
	if err := s.patch.meta(ctx, func() {
		controllerutil.AddFinalizer(s.obj, v1alpha1.Finalizer)
		metav1.SetMetaDataAnnotation(&s.obj.ObjectMeta, v1alpha1.AnnotationTunnelID, tunnel.ID)
		delete(s.obj.Annotations, v1alpha1.AnnotationCreateIntent)
	}); err != nil {
		return nil, cloudflare.ConnectorToken{}, ctrl.Result{}, err
	}
	if reason == v1alpha1.ReasonAdopted {
		r.Recorder.Eventf(s.obj, nil, "Normal", v1alpha1.ReasonAdopted, "Adopt", "Adopted Cloudflare tunnel %s named %q", tunnel.ID, tunnel.Name)
	}
	s.obj.Status.TunnelID = tunnel.ID
	s.obj.Status.CreatedAt = timePtr(tunnel.CreatedAt)
	return tunnel, token, ctrl.Result{}, nil
}

// reserve makes s.obj the holder of key (a tunnel name or id), or stalls it naming the holder.
func (r *CloudflareTunnelReconciler) reserve(ctx context.Context, obj *v1alpha1.CloudflareTunnel, key ownership.Key, what string) (ctrl.Result, bool, error) {
	err := r.Reservations.Reserve(ctx, key, tunnelHolder(obj))
	if other, ok := ownership.IsHeld(err); ok {
		return r.stallOwnership(obj, fmt.Sprintf("CloudflareTunnel %s already manages %q in Cloudflare account %s: choose another spec.name, or delete that object",
			other.Holder, what, key.AccountID)), false, nil
	}
	return ctrl.Result{}, err == nil, err
}

// stallOwnership stalls with NameConflict and looks again every resync: the cause can go away
// without any change to this object.
func (r *CloudflareTunnelReconciler) stallOwnership(obj *v1alpha1.CloudflareTunnel, message string) ctrl.Result {
	r.stall(obj, v1alpha1.ReasonNameConflict, message)
	return r.resync()
}

// failed reports a failed call of the create path.
func (r *CloudflareTunnelReconciler) failed(ctx context.Context, obj *v1alpha1.CloudflareTunnel, err error) tunnelOutcome {
	res, err := r.apiFailure(ctx, obj, err)
	return tunnelOutcome{res: res, err: err}
}

func (r *CloudflareTunnelReconciler) clearIntent(ctx context.Context, s *tunnelScope) error {
	if _, ok := s.obj.Annotations[v1alpha1.AnnotationCreateIntent]; !ok {
		return nil
	}
	return s.patch.meta(ctx, func() { delete(s.obj.Annotations, v1alpha1.AnnotationCreateIntent) })
}

func toOutcome(tunnel *cloudflare.Tunnel, token cloudflare.ConnectorToken, res ctrl.Result, err error) tunnelOutcome {
	return tunnelOutcome{tunnel: tunnel, token: token, res: res, err: err}
}

func tunnelTakenMessage(found cloudflare.Tunnel, accountID string) string {
	return fmt.Sprintf("a Cloudflare tunnel named %q already exists in account %s (tunnel id %s) and was not made by this object: "+
		"choose another spec.name, or set spec.tunnelID: %s to adopt it", found.Name, accountID, found.ID, found.ID)
}

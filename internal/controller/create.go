package controller

import (
	"context"
	"errors"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	"github.com/workersvpc/connectivity-operator/internal/cloudflare"
	"github.com/workersvpc/connectivity-operator/internal/ownership"
	"github.com/workersvpc/connectivity-operator/internal/servicespec"
)

// maxIntentBodies bounds the bodies an intent remembers across retries whose spec changed.
const maxIntentBodies = 4

// reconcileCreate gives an object without a recorded service its service: recovered from an
// earlier create whose outcome is unknown, adopted by name, or created. Nothing happens before
// the object holds the name's reservation, so no other object can create or claim it meanwhile.
func (r *ConnectivityServiceReconciler) reconcileCreate(ctx context.Context, s *serviceScope) (ctrl.Result, error) {
	name := servicespec.Name(s.obj)
	if res, held, err := r.reserve(ctx, s, name); !held {
		return res, err
	}
	if raw, ok := s.obj.Annotations[v1alpha1.AnnotationCreateIntent]; ok {
		return r.resolveIntent(ctx, s, ownership.ParseIntent(raw))
	}
	existing, found, err := r.Inventory.ByName(ctx, s.accountID(), s.conn.cl, name, r.nameCheckAge(s.obj))
	if err != nil {
		return r.apiFailure(ctx, s.obj, err)
	}
	if found {
		return r.nameTaken(ctx, s, existing)
	}
	return r.create(ctx, s, ownership.Intent{Name: name, At: time.Now().UTC()})
}

// resolveIntent finishes an earlier create attempt whose outcome is unknown: an intent still on
// the object at the start of a pass means an attempt may have committed. The service it made is
// claimed only with proof; a service of the name without proof is never claimed nor called
// someone else's; with no service of the name the create is attempted again, under the intent's
// name, since the earlier attempt may still commit late.
func (r *ConnectivityServiceReconciler) resolveIntent(ctx context.Context, s *serviceScope, intent ownership.Intent) (ctrl.Result, error) {
	if intent.Name == "" {
		// Unreadable: it proves nothing, but a create may have happened under the spec's name.
		intent = ownership.Intent{Name: servicespec.Name(s.obj), At: time.Now().UTC()}
	}
	intent.Retry = true
	if res, held, err := r.reserve(ctx, s, intent.Name); !held {
		return res, err
	}
	ctrl.LoggerFrom(ctx).Info("Resolving an earlier create attempt", "name", intent.Name)
	found, err := r.findName(ctx, s, intent.Name)
	if err != nil {
		return r.apiFailure(ctx, s.obj, err)
	}
	switch ownership.Resolve(intent, found, true, adoptRequested(s.obj)) {
	case ownership.Retry:
		return r.create(ctx, s, intent)
	case ownership.Claim:
		ctrl.LoggerFrom(ctx).Info("Claiming the service an earlier create attempt made", "serviceID", found.ID)
		return r.claim(ctx, s, *found, v1alpha1.ReasonCreated)
	case ownership.Adopt:
		return r.claim(ctx, s, *found, v1alpha1.ReasonAdopted)
	}
	if intent.Name != servicespec.Name(s.obj) {
		// The user chose another name, one of the two ways out: leave the unproven service alone.
		r.Recorder.Eventf(s.obj, nil, "Warning", v1alpha1.ReasonOwnershipUnknown, "Create",
			"Left Cloudflare service %s named %q in place: nothing proves this object created it", found.ID, found.Name)
		if err := r.clearIntent(ctx, s); err != nil {
			return ctrl.Result{}, err
		}
		if err := r.Reservations.Release(ctx, serviceKey(s.accountID(), intent.Name), holderOf(s.obj)); err != nil {
			return ctrl.Result{}, err
		}
		return ctrl.Result{RequeueAfter: recordChangedRetry}, nil
	}
	return r.stallOwnership(s.obj, v1alpha1.ReasonOwnershipUnknown, ownershipUnknownMessage(*found, s.accountID())), nil
}

// create records the intent, calls create once, and records the reply at once. Every attempt
// writes the intent with optimistic locking and a new attempt number, so that two managers
// working from stale caches cannot both send a create for one object.
func (r *ConnectivityServiceReconciler) create(ctx context.Context, s *serviceScope, intent ownership.Intent) (ctrl.Result, error) {
	body := desiredBody(ctx, s.obj)
	body.Name = intent.Name
	if !slices.ContainsFunc(intent.Bodies, func(b cloudflare.Service) bool { return servicespec.Equal(b, body) }) {
		intent.Bodies = append(intent.Bodies, body)
		if len(intent.Bodies) > maxIntentBodies {
			intent.Bodies = intent.Bodies[len(intent.Bodies)-maxIntentBodies:]
		}
	}
	intent.Attempt++
	raw, err := intent.Encode()
	if err != nil {
		return ctrl.Result{}, err
	}
	if err := s.patch.meta(ctx, func() {
		controllerutil.AddFinalizer(s.obj, v1alpha1.Finalizer)
		metav1.SetMetaDataAnnotation(&s.obj.ObjectMeta, v1alpha1.AnnotationCreateIntent, raw)
	}); err != nil {
		return ctrl.Result{}, err
	}
	ctrl.LoggerFrom(ctx).Info("Creating Cloudflare service", "name", body.Name, "account", s.accountID(), "attempt", intent.Attempt)
	created, err := s.conn.cl.Create(ctx, body)
	if err != nil {
		return r.createFailed(ctx, s, intent, err)
	}
	r.Inventory.Put(s.accountID(), *created)
	r.Recorder.Eventf(s.obj, nil, "Normal", v1alpha1.ReasonCreated, "Create", "Created Cloudflare service %s named %q", created.ID, created.Name)
	return r.claim(ctx, s, *created, v1alpha1.ReasonCreated)
}

// createFailed sorts a failed create. An unknown outcome keeps the intent, and the next pass
// finds out by name. A definite refusal made nothing, but the intent is kept while an earlier
// attempt's outcome is still unknown. A name conflict is resolved like an unknown outcome when
// an earlier attempt may have made the service, and is someone else's service otherwise.
func (r *ConnectivityServiceReconciler) createFailed(ctx context.Context, s *serviceScope, intent ownership.Intent, err error) (ctrl.Result, error) {
	if outcomeUnknown(err) {
		return r.apiFailure(ctx, s.obj, err)
	}
	if !errors.Is(err, cloudflare.ErrNameConflict) {
		if !intent.Retry {
			if clearErr := r.clearIntent(ctx, s); clearErr != nil {
				return ctrl.Result{}, clearErr
			}
		}
		return r.apiFailure(ctx, s.obj, err)
	}
	existing, findErr := s.conn.cl.FindByName(ctx, intent.Name)
	if findErr != nil {
		// Gone again already (ErrNotFound) or unknown: either way the next pass looks again.
		return r.apiFailure(ctx, s.obj, findErr)
	}
	r.Inventory.Put(s.accountID(), *existing)
	switch ownership.Resolve(intent, existing, intent.Retry, adoptRequested(s.obj)) {
	case ownership.Claim:
		return r.claim(ctx, s, *existing, v1alpha1.ReasonCreated)
	case ownership.Unknown:
		return r.stallOwnership(s.obj, v1alpha1.ReasonOwnershipUnknown, ownershipUnknownMessage(*existing, s.accountID())), nil
	}
	if err := r.clearIntent(ctx, s); err != nil {
		return ctrl.Result{}, err
	}
	return r.nameTaken(ctx, s, *existing)
}

// outcomeUnknown tells whether a failed create may still have created the service.
func outcomeUnknown(err error) bool {
	if _, ok := errors.AsType[*cloudflare.APIError](err); !ok {
		return true
	}
	return errors.Is(err, cloudflare.ErrTransient)
}

// nameTaken handles a service of the object's name that the object did not make: adopted when
// the object asks for it, otherwise a conflict that is never touched, looked at again at every
// resync so that it clears by itself once that service is gone.
func (r *ConnectivityServiceReconciler) nameTaken(ctx context.Context, s *serviceScope, existing cloudflare.Service) (ctrl.Result, error) {
	if adoptRequested(s.obj) {
		return r.claim(ctx, s, existing, v1alpha1.ReasonAdopted)
	}
	return r.stallOwnership(s.obj, v1alpha1.ReasonNameConflict, nameTakenMessage(existing, s.accountID())), nil
}

// findName looks a name up for resolving an intent. It asks Cloudflare directly, as this is the
// uncertain case, except while the object is already stalled on it: then the account's shared
// list, refreshed once per resync interval, re-evaluates the stall without a call of its own.
func (r *ConnectivityServiceReconciler) findName(ctx context.Context, s *serviceScope, name string) (*cloudflare.Service, error) {
	if stalledOnOwnership(s.obj) {
		svc, found, err := r.Inventory.ByName(ctx, s.accountID(), s.conn.cl, name, r.ResyncInterval)
		if err != nil || !found {
			return nil, err
		}
		return &svc, nil
	}
	svc, err := s.conn.cl.FindByName(ctx, name)
	if errors.Is(err, cloudflare.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	r.Inventory.Put(s.accountID(), *svc)
	return svc, nil
}

// nameCheckAge is how old the shared list may be when checking that a name is free: fresh before
// a first create, a resync interval old when re-evaluating a stall.
func (r *ConnectivityServiceReconciler) nameCheckAge(obj *v1alpha1.ConnectivityService) time.Duration {
	if stalledOnOwnership(obj) {
		return r.ResyncInterval
	}
	return createCheckMaxAge
}

func adoptRequested(obj *v1alpha1.ConnectivityService) bool {
	return obj.Annotations[v1alpha1.AnnotationAdopt] == "true"
}

func (r *ConnectivityServiceReconciler) clearIntent(ctx context.Context, s *serviceScope) error {
	if _, ok := s.obj.Annotations[v1alpha1.AnnotationCreateIntent]; !ok {
		return nil
	}
	return s.patch.meta(ctx, func() { delete(s.obj.Annotations, v1alpha1.AnnotationCreateIntent) })
}

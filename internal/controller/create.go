package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	"github.com/workersvpc/connectivity-operator/internal/cloudflare"
	"github.com/workersvpc/connectivity-operator/internal/servicespec"
)

// intentSkew is how much earlier than the recorded intent a service's created_at may be and still
// count as ours: it absorbs the difference between our clock and Cloudflare's.
const intentSkew = 2 * time.Minute

// createIntent is recorded on the object before every create call. The API has no idempotency
// key, so when a create's outcome is unknown (timeout, 5xx, a crash right after the call) the
// intent is the evidence that a service of that name, created after it, is this object's own.
type createIntent struct {
	Name string    `json:"name"`
	At   time.Time `json:"at"`
	// Retry is set when an earlier attempt's outcome was unknown: only then can a name conflict
	// be that attempt's own late commit.
	Retry bool `json:"retry,omitempty"`
}

func readIntent(obj *v1alpha1.ConnectivityService) (createIntent, bool) {
	raw, ok := obj.Annotations[v1alpha1.AnnotationCreateIntent]
	if !ok {
		return createIntent{}, false
	}
	var in createIntent
	if err := json.Unmarshal([]byte(raw), &in); err != nil || in.Name == "" {
		// An unreadable intent still says a create may have happened; claim nothing by it.
		return createIntent{At: time.Now().Add(time.Hour)}, true
	}
	return in, true
}

// owns tells whether svc is the service this intent's create made.
func (in createIntent) owns(svc cloudflare.Service) bool {
	return svc.Name == in.Name && !svc.CreatedAt.IsZero() && !svc.CreatedAt.Before(in.At.Add(-intentSkew))
}

// reconcileCreate gives an object without a service id its service: imported by id, recovered
// from an earlier create whose outcome was unknown, adopted by name, or created.
func (r *ConnectivityServiceReconciler) reconcileCreate(ctx context.Context, obj *v1alpha1.ConnectivityService, conn *connection, patcher *statusPatcher) (ctrl.Result, error) {
	if id := obj.Annotations[v1alpha1.AnnotationServiceID]; id != "" {
		return r.importByID(ctx, obj, conn, patcher, id)
	}
	name := servicespec.Name(obj)
	if owner, err := r.nameOwner(ctx, obj, conn.acct.AccountID, name); err != nil || owner != "" {
		if err != nil {
			return ctrl.Result{}, err
		}
		return r.stall(obj, v1alpha1.ReasonNameConflict, fmt.Sprintf(
			"ConnectivityService %s already manages the service named %q in account %s: choose another spec.name",
			owner, name, conn.acct.AccountID)), nil
	}
	if intent, ok := readIntent(obj); ok {
		return r.resolveIntent(ctx, obj, conn, patcher, intent)
	}
	existing, found, err := r.Inventory.ByName(ctx, conn.acct.AccountID, conn.cl, name, createCheckMaxAge)
	if err != nil {
		return r.apiFailure(ctx, obj, err)
	}
	if found {
		return r.nameTaken(ctx, obj, conn, patcher, existing)
	}
	return r.create(ctx, obj, conn, patcher, createIntent{Name: name, At: r.Now().UTC()})
}

// resolveIntent finishes an earlier create attempt whose outcome is unknown: the service it made
// is claimed, a service of that name that predates the attempt is a conflict, and when there is
// none the create is attempted again. It asks Cloudflare directly: this is the uncertain case.
func (r *ConnectivityServiceReconciler) resolveIntent(ctx context.Context, obj *v1alpha1.ConnectivityService, conn *connection, patcher *statusPatcher, intent createIntent) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	log.Info("Resolving an earlier create attempt", "name", intent.Name)
	svc, err := conn.cl.FindByName(ctx, intent.Name)
	switch {
	case errors.Is(err, cloudflare.ErrNotFound):
		// Keep the first attempt's time: should that attempt still commit late, the service it
		// makes is recognised as ours when the next create collides with it.
		return r.create(ctx, obj, conn, patcher, createIntent{Name: servicespec.Name(obj), At: intent.At, Retry: true})
	case err != nil:
		return r.apiFailure(ctx, obj, err)
	}
	r.Inventory.Put(conn.acct.AccountID, *svc)
	if !intent.owns(*svc) {
		if err := r.clearIntent(ctx, obj); err != nil {
			return ctrl.Result{}, err
		}
		return r.nameTaken(ctx, obj, conn, patcher, *svc)
	}
	log.Info("Claiming the service an earlier create attempt made", "serviceID", svc.ID)
	return r.claim(ctx, obj, conn, patcher, *svc, v1alpha1.ReasonCreated)
}

// create records the intent, calls create once, and persists the reply at once.
func (r *ConnectivityServiceReconciler) create(ctx context.Context, obj *v1alpha1.ConnectivityService, conn *connection, patcher *statusPatcher, intent createIntent) (ctrl.Result, error) {
	body := servicespec.Build(obj)
	raw, err := json.Marshal(intent)
	if err != nil {
		return ctrl.Result{}, err
	}
	if err := r.patchMeta(ctx, obj, func() {
		controllerutil.AddFinalizer(obj, v1alpha1.Finalizer)
		setAnnotation(obj, v1alpha1.AnnotationCreateIntent, string(raw))
	}); err != nil {
		return ctrl.Result{}, err
	}
	ctrl.LoggerFrom(ctx).Info("Creating Cloudflare service", "name", body.Name, "account", conn.acct.AccountID)
	created, err := conn.cl.Create(ctx, body)
	if err != nil {
		return r.createFailed(ctx, obj, conn, patcher, intent, err)
	}
	r.Inventory.Put(conn.acct.AccountID, *created)
	r.Recorder.Eventf(obj, nil, "Normal", v1alpha1.ReasonCreated, "Create", "Created Cloudflare service %s named %q", created.ID, created.Name)
	return r.claim(ctx, obj, conn, patcher, *created, v1alpha1.ReasonCreated)
}

// createFailed sorts a failed create. A definite refusal clears the intent, since this call made
// nothing; an unknown outcome keeps it, and the next attempt finds out by name. A name conflict
// with a service an earlier attempt of this intent made (a late commit) claims that service.
func (r *ConnectivityServiceReconciler) createFailed(ctx context.Context, obj *v1alpha1.ConnectivityService, conn *connection, patcher *statusPatcher, intent createIntent, err error) (ctrl.Result, error) {
	if outcomeUnknown(err) {
		return r.apiFailure(ctx, obj, err)
	}
	if !errors.Is(err, cloudflare.ErrNameConflict) {
		if clearErr := r.clearIntent(ctx, obj); clearErr != nil {
			return ctrl.Result{}, clearErr
		}
		return r.apiFailure(ctx, obj, err)
	}
	existing, findErr := conn.cl.FindByName(ctx, intent.Name)
	if findErr != nil {
		return r.apiFailure(ctx, obj, findErr)
	}
	r.Inventory.Put(conn.acct.AccountID, *existing)
	if intent.Retry && intent.owns(*existing) {
		return r.claim(ctx, obj, conn, patcher, *existing, v1alpha1.ReasonCreated)
	}
	if clearErr := r.clearIntent(ctx, obj); clearErr != nil {
		return ctrl.Result{}, clearErr
	}
	return r.nameTaken(ctx, obj, conn, patcher, *existing)
}

// outcomeUnknown tells whether a failed create may still have created the service.
func outcomeUnknown(err error) bool {
	if _, ok := errors.AsType[*cloudflare.APIError](err); !ok {
		return true
	}
	return errors.Is(err, cloudflare.ErrTransient)
}

// nameTaken handles a service of the object's name that the object did not make: adopted when
// the object asks for it, otherwise a conflict that is never touched.
func (r *ConnectivityServiceReconciler) nameTaken(ctx context.Context, obj *v1alpha1.ConnectivityService, conn *connection, patcher *statusPatcher, existing cloudflare.Service) (ctrl.Result, error) {
	if obj.Annotations[v1alpha1.AnnotationAdopt] == "true" {
		return r.claim(ctx, obj, conn, patcher, existing, v1alpha1.ReasonAdopted)
	}
	return r.stall(obj, v1alpha1.ReasonNameConflict, fmt.Sprintf(
		"a Cloudflare service named %q already exists in account %s (service id %s) and is not managed by this object: "+
			"choose another spec.name, or annotate the object with %s: \"true\" to adopt it",
		existing.Name, conn.acct.AccountID, existing.ID, v1alpha1.AnnotationAdopt)), nil
}

// importByID takes over the service named by the service-id annotation.
func (r *ConnectivityServiceReconciler) importByID(ctx context.Context, obj *v1alpha1.ConnectivityService, conn *connection, patcher *statusPatcher, id string) (ctrl.Result, error) {
	svc, err := conn.cl.Get(ctx, id)
	if errors.Is(err, cloudflare.ErrNotFound) {
		return r.stall(obj, v1alpha1.ReasonInvalidSpec, fmt.Sprintf(
			"annotation %s names service %s, which does not exist in account %s: fix or remove the annotation",
			v1alpha1.AnnotationServiceID, id, conn.acct.AccountID)), nil
	}
	if err != nil {
		return r.apiFailure(ctx, obj, err)
	}
	r.Inventory.Put(conn.acct.AccountID, *svc)
	return r.claim(ctx, obj, conn, patcher, *svc, v1alpha1.ReasonAdopted)
}

// claim makes svc this object's service: its id and timestamps are persisted before anything
// else, then the intent is cleared and the service converged to the spec.
func (r *ConnectivityServiceReconciler) claim(ctx context.Context, obj *v1alpha1.ConnectivityService, conn *connection, patcher *statusPatcher, svc cloudflare.Service, reason string) (ctrl.Result, error) {
	if owner, err := r.idOwner(ctx, obj, svc.ID); err != nil || owner != "" {
		if err != nil {
			return ctrl.Result{}, err
		}
		return r.stall(obj, v1alpha1.ReasonNameConflict, fmt.Sprintf(
			"Cloudflare service %s is already managed by ConnectivityService %s: one service has one owner", svc.ID, owner)), nil
	}
	if !controllerutil.ContainsFinalizer(obj, v1alpha1.Finalizer) {
		if err := r.patchMeta(ctx, obj, func() { controllerutil.AddFinalizer(obj, v1alpha1.Finalizer) }); err != nil {
			return ctrl.Result{}, err
		}
	}
	obj.Status.ServiceID = svc.ID
	obj.Status.CreatedAt = timePtr(svc.CreatedAt)
	obj.Status.UpdatedAt = timePtr(svc.UpdatedAt)
	if servicespec.Equal(servicespec.Build(obj), svc) {
		// The usual case after a create: record the service and Ready in one write.
		markReady(obj, reason, readyMessage(reason, svc.ID))
		obj.Status.ObservedGeneration = obj.Generation
	} else {
		markReconciling(obj, v1alpha1.ReasonProgressing, "Cloudflare service "+svc.ID+" recorded; converging it to the spec")
	}
	if err := patcher.patch(ctx, r.Client, obj, copyServiceStatus); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.clearIntent(ctx, obj); err != nil {
		return ctrl.Result{}, err
	}
	if reason == v1alpha1.ReasonAdopted {
		r.Recorder.Eventf(obj, nil, "Normal", v1alpha1.ReasonAdopted, "Adopt", "Adopted Cloudflare service %s named %q", svc.ID, svc.Name)
	}
	return r.converge(ctx, obj, conn, svc, reason)
}

func (r *ConnectivityServiceReconciler) clearIntent(ctx context.Context, obj *v1alpha1.ConnectivityService) error {
	if _, ok := obj.Annotations[v1alpha1.AnnotationCreateIntent]; !ok {
		return nil
	}
	return r.patchMeta(ctx, obj, func() { delete(obj.Annotations, v1alpha1.AnnotationCreateIntent) })
}

func setAnnotation(obj *v1alpha1.ConnectivityService, key, value string) {
	if obj.Annotations == nil {
		obj.Annotations = map[string]string{}
	}
	obj.Annotations[key] = value
}

func timePtr(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	mt := metav1.NewTime(t)
	return &mt
}

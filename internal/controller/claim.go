package controller

import (
	"context"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	"github.com/workersvpc/connectivity-operator/internal/cloudflare"
	"github.com/workersvpc/connectivity-operator/internal/conditions"
	"github.com/workersvpc/connectivity-operator/internal/servicespec"
)

// claim makes svc this object's service. The object must hold the reservation of its spec name
// and of svc's id, so that no two objects ever claim one service. The id is then recorded
// in metadata, where a lost status cannot take it, together with the finalizer and the end of
// the create intent, in one write; status follows, and then the service is converged.
func (r *ConnectivityServiceReconciler) claim(ctx context.Context, s *serviceScope, svc cloudflare.Service, reason string) (ctrl.Result, error) {
	if res, held, err := r.reserve(ctx, s, servicespec.Name(s.obj)); !held {
		return res, err
	}
	if res, held, err := r.reserveID(ctx, s, svc.ID); !held {
		return res, err
	}
	// The record first: from here on a lost status (or a failed status write) loses nothing.
	if err := r.record(ctx, s, svc.ID); err != nil {
		return ctrl.Result{}, err
	}
	if s.obj.Status.ServiceID != svc.ID || s.obj.Status.CreatedAt == nil {
		// Cloudflare resets created_at on every update: keep the first one seen for this id.
		s.obj.Status.CreatedAt = timePtr(svc.CreatedAt)
	}
	s.obj.Status.ServiceID = svc.ID
	s.obj.Status.UpdatedAt = timePtr(svc.UpdatedAt)
	if desired := desiredBody(ctx, s.obj); servicespec.Equal(desired, svc) {
		// The usual case after a create: record the service, what was sent, and Ready in one write.
		s.obj.Status.Host = sentHost(desired)
		serviceReady(s.obj, reason, svc.ID)
	} else {
		conditions.MarkReconciling(s.obj, v1alpha1.ReasonProgressing, "Cloudflare service "+svc.ID+" recorded; converging it to the spec")
	}
	if err := s.patch.status(ctx); err != nil {
		return ctrl.Result{}, err
	}
	if reason == v1alpha1.ReasonAdopted {
		r.Recorder.Eventf(s.obj, nil, "Normal", v1alpha1.ReasonAdopted, "Adopt", "Adopted Cloudflare service %s named %q", svc.ID, svc.Name)
	}
	return r.converge(ctx, s, svc, reason)
}

// record writes the durable record of the service id (the service-id annotation), the finalizer,
// and the end of the create intent, with optimistic locking. It writes nothing when all of it is
// already there.
func (r *ConnectivityServiceReconciler) record(ctx context.Context, s *serviceScope, id string) error {
	_, pending := s.obj.Annotations[v1alpha1.AnnotationCreateIntent]
	if s.obj.Annotations[v1alpha1.AnnotationServiceID] == id && !pending && controllerutil.ContainsFinalizer(s.obj, v1alpha1.Finalizer) {
		return nil
	}
	return s.patch.meta(ctx, func() {
		controllerutil.AddFinalizer(s.obj, v1alpha1.Finalizer)
		metav1.SetMetaDataAnnotation(&s.obj.ObjectMeta, v1alpha1.AnnotationServiceID, id)
		delete(s.obj.Annotations, v1alpha1.AnnotationCreateIntent)
	})
}

// recordedID is the object's service id: the durable record in metadata, or, for objects
// recorded before that annotation existed (they hold the finalizer), the id in status.
func recordedID(obj *v1alpha1.ConnectivityService) string {
	if id := obj.Annotations[v1alpha1.AnnotationServiceID]; id != "" {
		return id
	}
	if !controllerutil.ContainsFinalizer(obj, v1alpha1.Finalizer) {
		// Only an object that wrote Cloudflare holds the finalizer: an id in status without it
		// was observed (managementPolicy Observe), which records no ownership.
		return ""
	}
	return obj.Status.ServiceID
}

// serviceReady records that the service matches the spec of this generation.
func serviceReady(obj *v1alpha1.ConnectivityService, reason, id string) {
	ready(obj, reason, readyMessage(reason, id))
}

// stillReady records a resync that found the service matching: a Ready condition that already
// says so for this id keeps its reason and message (Created, Adopted), so a no-op resync writes
// nothing.
func stillReady(obj *v1alpha1.ConnectivityService, reason, id string) {
	c := meta.FindStatusCondition(obj.Status.Conditions, v1alpha1.ConditionReady)
	if reason == v1alpha1.ReasonSynced && c != nil && c.Status == metav1.ConditionTrue && strings.Contains(c.Message, id) {
		ready(obj, c.Reason, c.Message)
		return
	}
	serviceReady(obj, reason, id)
}

func timePtr(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	mt := metav1.NewTime(t)
	return &mt
}

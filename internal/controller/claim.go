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
func (r *ConnectivityServiceReconciler) claim(ctx context.Context, obj *v1alpha1.ConnectivityService, conn *connection, patcher *statusPatcher, svc cloudflare.Service, reason string) (ctrl.Result, error) {
	if res, held, err := r.reserve(ctx, obj, conn.acct.AccountID, servicespec.Name(obj)); !held {
		return res, err
	}
	if res, held, err := r.reserveID(ctx, obj, conn.acct.AccountID, svc.ID); !held {
		return res, err
	}
	// The record first: from here on a lost status (or a failed status write) loses nothing.
	if err := r.record(ctx, obj, svc.ID); err != nil {
		return ctrl.Result{}, err
	}
	if obj.Status.ServiceID != svc.ID || obj.Status.CreatedAt == nil {
		// Cloudflare resets created_at on every update: keep the first one seen for this id.
		obj.Status.CreatedAt = timePtr(svc.CreatedAt)
	}
	obj.Status.ServiceID = svc.ID
	obj.Status.UpdatedAt = timePtr(svc.UpdatedAt)
	if desired := desiredBody(ctx, obj); servicespec.Equal(desired, svc) {
		// The usual case after a create: record the service, what was sent, and Ready in one write.
		obj.Status.Host = sentHost(desired)
		r.ready(obj, reason, svc.ID)
	} else {
		conditions.MarkReconciling(obj, v1alpha1.ReasonProgressing, "Cloudflare service "+svc.ID+" recorded; converging it to the spec")
	}
	if err := patcher.patch(ctx, r.Client, obj, copyServiceStatus); err != nil {
		return ctrl.Result{}, err
	}
	if reason == v1alpha1.ReasonAdopted {
		r.Recorder.Eventf(obj, nil, "Normal", v1alpha1.ReasonAdopted, "Adopt", "Adopted Cloudflare service %s named %q", svc.ID, svc.Name)
	}
	return r.converge(ctx, obj, conn, patcher, svc, reason)
}

// record writes the durable record of the service id (the service-id annotation), the finalizer,
// and the end of the create intent, with optimistic locking. It writes nothing when all of it is
// already there.
func (r *ConnectivityServiceReconciler) record(ctx context.Context, obj *v1alpha1.ConnectivityService, id string) error {
	_, pending := obj.Annotations[v1alpha1.AnnotationCreateIntent]
	if obj.Annotations[v1alpha1.AnnotationServiceID] == id && !pending && controllerutil.ContainsFinalizer(obj, v1alpha1.Finalizer) {
		return nil
	}
	return r.patchMeta(ctx, obj, func() {
		controllerutil.AddFinalizer(obj, v1alpha1.Finalizer)
		metav1.SetMetaDataAnnotation(&obj.ObjectMeta, v1alpha1.AnnotationServiceID, id)
		delete(obj.Annotations, v1alpha1.AnnotationCreateIntent)
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

// ready records that the service matches the spec of this generation.
func (r *ConnectivityServiceReconciler) ready(obj *v1alpha1.ConnectivityService, reason, id string) {
	conditions.MarkReady(obj, reason, readyMessage(reason, id))
	obj.Status.ObservedGeneration = obj.Generation
}

// stillReady records a resync that found the service matching: a Ready condition that already
// says so for this id keeps its reason and message (Created, Adopted), so a no-op resync writes
// nothing.
func (r *ConnectivityServiceReconciler) stillReady(obj *v1alpha1.ConnectivityService, reason, id string) {
	c := meta.FindStatusCondition(obj.Status.Conditions, v1alpha1.ConditionReady)
	if reason == v1alpha1.ReasonSynced && c != nil && c.Status == metav1.ConditionTrue && strings.Contains(c.Message, id) {
		conditions.MarkReady(obj, c.Reason, c.Message)
		obj.Status.ObservedGeneration = obj.Generation
		return
	}
	r.ready(obj, reason, id)
}

func timePtr(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	mt := metav1.NewTime(t)
	return &mt
}

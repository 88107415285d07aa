package controller

import (
	"context"
	"errors"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	"github.com/workersvpc/connectivity-operator/internal/cloudflare"
	"github.com/workersvpc/connectivity-operator/internal/conditions"
	"github.com/workersvpc/connectivity-operator/internal/servicespec"
)

// conditionSuspended is True while spec.suspend holds every Cloudflare call back. It is not a
// kstatus condition: Ready keeps what it last said, so a suspended object does not read as failing.
const conditionSuspended = "Suspended"

// suspended handles spec.suspend: no Cloudflare call, a condition that says so, and nothing to
// come back for (setting suspend back to false changes the generation, which reconciles at once).
func suspended(obj *v1alpha1.ConnectivityService) bool {
	if !obj.Spec.Suspend {
		conditions.Remove(obj, conditionSuspended)
		return false
	}
	conditions.Set(obj, conditionSuspended, metav1.ConditionTrue, v1alpha1.ReasonSuspended,
		"spec.suspend is true: the operator makes no Cloudflare call for this object; set it to false to resume")
	return true
}

// reconcileRequested tells whether the object carries a reconcile request (Flux's
// reconcile.fluxcd.io/requestedAt) not handled yet. Such a pass reads the service by id instead of
// from the account's shared list, so it sees Cloudflare as it is now.
func reconcileRequested(obj *v1alpha1.ConnectivityService) bool {
	at, ok := obj.Annotations[v1alpha1.AnnotationReconcileRequestedAt]
	return ok && at != obj.Status.LastHandledReconcileAt
}

// handledRequest echoes the request a pass acted on into status.
func handledRequest(obj *v1alpha1.ConnectivityService) {
	if at, ok := obj.Annotations[v1alpha1.AnnotationReconcileRequestedAt]; ok {
		obj.Status.LastHandledReconcileAt = at
	}
}

// observing tells whether the object only mirrors its service (managementPolicy Observe).
func observing(obj *v1alpha1.ConnectivityService) bool {
	return obj.Spec.ManagementPolicy == v1alpha1.ManagementPolicyObserve
}

// reconcileObserve mirrors the service into status and never writes to Cloudflare: the service is
// the one the service-id annotation names, or the one of the spec's name.
func (r *ConnectivityServiceReconciler) reconcileObserve(ctx context.Context, s *serviceScope) (ctrl.Result, error) {
	svc, err := r.observed(ctx, s)
	if errors.Is(err, cloudflare.ErrNotFound) {
		s.obj.Status.ServiceID, s.obj.Status.CreatedAt, s.obj.Status.UpdatedAt, s.obj.Status.Host = "", nil, nil, nil
		conditions.MarkReconciling(s.obj, v1alpha1.ReasonNotFound, fmt.Sprintf(
			"no Cloudflare service %s exists in account %s to observe; it is looked for again every resync",
			observeTarget(s.obj), s.accountID()))
		return r.resync(), nil
	}
	if err != nil {
		return r.apiFailure(ctx, s.obj, err)
	}
	s.obj.Status.ServiceID = svc.ID
	s.obj.Status.UpdatedAt = timePtr(svc.UpdatedAt)
	if s.obj.Status.CreatedAt == nil {
		s.obj.Status.CreatedAt = timePtr(svc.CreatedAt)
	}
	s.obj.Status.Host = sentHost(svc)
	message := "Cloudflare service " + svc.ID + " observed; it matches the spec"
	if !servicespec.Equal(desiredBody(ctx, s.obj), svc) {
		message = "Cloudflare service " + svc.ID + " observed; it differs from the spec, and Observe never changes it (status.host shows it)"
	}
	ready(s.obj, v1alpha1.ReasonObserved, message)
	return r.resync(), nil
}

// observed reads the observed service: by the service-id annotation with a GET, or by name from
// the account's shared list (fresh when a reconcile was requested).
func (r *ConnectivityServiceReconciler) observed(ctx context.Context, s *serviceScope) (cloudflare.Service, error) {
	if id := s.obj.Annotations[v1alpha1.AnnotationServiceID]; id != "" {
		got, err := s.conn.cl.Get(ctx, id)
		if err != nil {
			return cloudflare.Service{}, err
		}
		return *got, nil
	}
	maxAge := r.ResyncInterval
	if reconcileRequested(s.obj) {
		maxAge = 0
	}
	svc, found, err := r.Inventory.ByName(ctx, s.accountID(), s.conn.cl, servicespec.Name(s.obj), maxAge)
	if err == nil && !found {
		err = cloudflare.ErrNotFound
	}
	return svc, err
}

func observeTarget(obj *v1alpha1.ConnectivityService) string {
	if id := obj.Annotations[v1alpha1.AnnotationServiceID]; id != "" {
		return "with id " + id
	}
	return fmt.Sprintf("named %q", servicespec.Name(obj))
}

// sentHost is the origin of a Cloudflare service as status shows it.
func sentHost(svc cloudflare.Service) *v1alpha1.SentHost {
	h := &v1alpha1.SentHost{
		IPv4: svc.Host.IPv4, IPv6: svc.Host.IPv6, Hostname: svc.Host.Hostname,
		HTTPPort: svc.HTTPPort, HTTPSPort: svc.HTTPSPort, TCPPort: svc.TCPPort,
	}
	switch {
	case svc.Host.Network != nil:
		h.TunnelID = svc.Host.Network.TunnelID
	case svc.Host.ResolverNetwork != nil:
		h.TunnelID = svc.Host.ResolverNetwork.TunnelID
		h.ResolverIPs = svc.Host.ResolverNetwork.ResolverIPs
	}
	return h
}

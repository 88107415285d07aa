package controller

import (
	"context"
	"errors"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	"github.com/workersvpc/connectivity-operator/internal/conditions"
	"github.com/workersvpc/connectivity-operator/internal/serviceref"
)

// +kubebuilder:rbac:groups="",resources=services,verbs=get;list;watch

// indexServiceRef finds the ConnectivityServices whose serviceRef names a Service (namespace/name).
const indexServiceRef = "connectivity.workersvpc.dev/service-ref"

// clusterDNSService is where the cluster's DNS Service lives on nearly every distribution.
var clusterDNSService = types.NamespacedName{Namespace: "kube-system", Name: "kube-dns"}

// ClusterDNS is how the cluster names Services and where its DNS answers, for serviceRef hosts.
type ClusterDNS struct {
	// Domain is the cluster domain, such as cluster.local.
	Domain string
	// ResolverIPs are the cluster DNS addresses; empty means the ClusterIPs of kube-system/kube-dns.
	ResolverIPs []string
}

// originKey carries the origin a serviceRef resolved to through one reconcile's context.
type originKey struct{}

// resolveServiceRef reads the Service spec.host.serviceRef names and returns a context carrying
// the origin it resolves to, for desiredBody. A missing Service or port waits (ServiceNotFound,
// PortNotFound) without any change in Cloudflare; the Service's next change wakes the object.
func (r *ConnectivityServiceReconciler) resolveServiceRef(ctx context.Context, obj *v1alpha1.ConnectivityService) (context.Context, ctrl.Result, bool, error) {
	ref := obj.Spec.Host.ServiceRef
	if ref == nil {
		return ctx, ctrl.Result{}, true, nil
	}
	svc := &corev1.Service{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: obj.Namespace, Name: ref.Name}, svc); apierrors.IsNotFound(err) {
		svc = nil
	} else if err != nil {
		return ctx, ctrl.Result{}, false, err
	}
	origin, err := serviceref.Resolve(obj, svc, r.clusterDNS(ctx))
	switch {
	case errors.Is(err, serviceref.ErrPortNotFound):
		conditions.MarkReconciling(obj, v1alpha1.ReasonPortNotFound, err.Error()+": fix serviceRef.port, or add the port to the Service")
		return ctx, r.resync(), false, nil
	case errors.Is(err, serviceref.ErrServiceNotFound), errors.Is(err, serviceref.ErrNoAddress):
		conditions.MarkReconciling(obj, v1alpha1.ReasonServiceNotFound, err.Error()+": create the Service, or fix serviceRef")
		return ctx, r.resync(), false, nil
	case err != nil:
		return ctx, ctrl.Result{}, false, err
	}
	return context.WithValue(ctx, originKey{}, origin), ctrl.Result{}, true, nil
}

// clusterDNS is the configured DNS, with the cluster DNS Service's addresses when none are set.
func (r *ConnectivityServiceReconciler) clusterDNS(ctx context.Context) serviceref.DNS {
	dns := serviceref.DNS{ClusterDomain: r.DNS.Domain, ResolverIPs: r.DNS.ResolverIPs}
	if len(dns.ResolverIPs) > 0 {
		return dns
	}
	kubeDNS := &corev1.Service{}
	if err := r.Get(ctx, clusterDNSService, kubeDNS); err == nil {
		dns.ResolverIPs = kubeDNS.Spec.ClusterIPs
	}
	return dns
}

// servicesOfService maps a Kubernetes Service event to the ConnectivityServices that refer to it.
func (r *ConnectivityServiceReconciler) servicesOfService(ctx context.Context, o client.Object) []reconcile.Request {
	return requestsOf(ctx, r.Client, &v1alpha1.ConnectivityServiceList{}, client.InNamespace(o.GetNamespace()),
		client.MatchingFields{indexServiceRef: o.GetNamespace() + "/" + o.GetName()})
}

// serviceRefOf is the index value of a ConnectivityService's serviceRef.
func serviceRefOf(o client.Object) []string {
	s := o.(*v1alpha1.ConnectivityService)
	if s.Spec.Host.ServiceRef == nil {
		return nil
	}
	return []string{s.Namespace + "/" + s.Spec.Host.ServiceRef.Name}
}

package controller

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	"github.com/workersvpc/connectivity-operator/internal/connector"
)

// destinationsOf is where the services that use the tunnel send traffic, for its egress policy.
func (r *CloudflareTunnelReconciler) destinationsOf(ctx context.Context, users []v1alpha1.ConnectivityService) []connector.Destination {
	dests := make([]connector.Destination, 0, len(users))
	for i := range users {
		dests = append(dests, r.destinationOf(ctx, &users[i]))
	}
	return dests
}

// destinationOf is one service's destination. A serviceRef'd Service with a selector is followed
// to its pods, on the target port; one without (ExternalName, hand-made endpoints) opens its port
// to any address, as a hostname does; a missing Service or port opens nothing yet.
func (r *CloudflareTunnelReconciler) destinationOf(ctx context.Context, svc *v1alpha1.ConnectivityService) connector.Destination {
	ref := svc.Spec.Host.ServiceRef
	if ref == nil {
		return connector.DestinationOf(svc)
	}
	kube := &corev1.Service{}
	if err := r.Get(ctx, types.NamespacedName{Namespace: svc.Namespace, Name: ref.Name}, kube); err != nil {
		return connector.Destination{}
	}
	port, ok := servicePort(kube, ref.Port)
	if !ok {
		return connector.Destination{}
	}
	if kube.Spec.Type == corev1.ServiceTypeExternalName || len(kube.Spec.Selector) == 0 {
		return connector.Destination{Ports: []int32{port.Port}}
	}
	target := port.TargetPort
	if target.Type == intstr.Int && target.IntVal == 0 {
		target = intstr.FromInt32(port.Port)
	}
	return connector.Destination{Pods: &connector.PodPeer{
		Namespace: kube.Namespace, Labels: kube.Spec.Selector, Ports: []intstr.IntOrString{target},
	}}
}

// servicePort finds a Service's port by number or name; an ExternalName Service without ports
// takes a number as it is.
func servicePort(kube *corev1.Service, want intstr.IntOrString) (corev1.ServicePort, bool) {
	for _, p := range kube.Spec.Ports {
		if (want.Type == intstr.Int && p.Port == want.IntVal) || (want.Type == intstr.String && p.Name == want.StrVal) {
			return p, true
		}
	}
	if len(kube.Spec.Ports) == 0 && want.Type == intstr.Int {
		return corev1.ServicePort{Port: want.IntVal}, true
	}
	return corev1.ServicePort{}, false
}

// tunnelsOfKubeService maps a Kubernetes Service event to the tunnels whose egress policy names
// its pods, through the ConnectivityServices that refer to it.
func (r *CloudflareTunnelReconciler) tunnelsOfKubeService(ctx context.Context, o client.Object) []reconcile.Request {
	var list v1alpha1.ConnectivityServiceList
	if err := r.List(ctx, &list, client.InNamespace(o.GetNamespace()),
		client.MatchingFields{indexServiceRef: o.GetNamespace() + "/" + o.GetName()}); err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		reqs = append(reqs, r.tunnelsOfService(ctx, &list.Items[i])...)
	}
	return reqs
}

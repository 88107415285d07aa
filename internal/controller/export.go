package controller

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	"github.com/workersvpc/connectivity-operator/internal/connector"
	"github.com/workersvpc/connectivity-operator/internal/export"
	"github.com/workersvpc/connectivity-operator/internal/servicespec"
)

// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update;patch;delete

// exportBinding keeps the export ConfigMap in step with the service id: written once the object
// has one (and rewritten only when it or the binding changes), and removed when spec.export goes
// or names another ConfigMap.
func (r *ConnectivityServiceReconciler) exportBinding(ctx context.Context, obj *v1alpha1.ConnectivityService) error {
	keep := ""
	if obj.Spec.Export != nil && obj.Status.ServiceID != "" {
		keep = export.ConfigMapName(obj)
		desired := export.ConfigMap(obj, obj.Status.ServiceID, servicespec.Name(obj), obj.Status.AccountID)
		if err := applyIfChanged(ctx, r.Client, obj, desired, &corev1.ConfigMap{}); err != nil {
			return err
		}
	}
	return r.removeExports(ctx, obj, keep)
}

// removeExports deletes the object's export ConfigMaps other than keep ("" removes all of them).
func (r *ConnectivityServiceReconciler) removeExports(ctx context.Context, obj *v1alpha1.ConnectivityService, keep string) error {
	var list corev1.ConfigMapList
	if err := r.List(ctx, &list, client.InNamespace(obj.Namespace), client.MatchingLabels{
		"app.kubernetes.io/managed-by": connector.ManagedBy, "app.kubernetes.io/component": "vpc-binding",
	}); err != nil {
		return err
	}
	for i := range list.Items {
		cm := &list.Items[i]
		if cm.Name == keep || !ownedBy(cm, obj) {
			continue
		}
		if err := r.Delete(ctx, cm); client.IgnoreNotFound(err) != nil {
			return err
		}
	}
	return nil
}

// ownedBy tells whether owner controls o.
func ownedBy(o client.Object, owner client.Object) bool {
	for _, ref := range o.GetOwnerReferences() {
		if ref.UID == owner.GetUID() {
			return true
		}
	}
	return false
}

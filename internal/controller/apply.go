package controller

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/workersvpc/connectivity-operator/internal/connector"
)

// fieldOwner is the operator's name in managedFields of what it applies.
const fieldOwner = client.FieldOwner("connectivity-operator")

// applyIfChanged applies desired unless the cached object (read into current) carries the same
// spec hash: a steady resync writes nothing.
func applyIfChanged(ctx context.Context, c client.Client, owner, desired, current client.Object) error {
	err := c.Get(ctx, client.ObjectKeyFromObject(desired), current)
	if err == nil && current.GetAnnotations()[connector.AnnotationSpecHash] == desired.GetAnnotations()[connector.AnnotationSpecHash] {
		return nil
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return applyOwned(ctx, c, owner, desired)
}

// applyOwned writes desired with server-side apply, controlled by owner so that Kubernetes
// deletes it with the owner.
func applyOwned(ctx context.Context, c client.Client, owner, desired client.Object) error {
	if err := controllerutil.SetControllerReference(owner, desired, c.Scheme()); err != nil {
		return err
	}
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(desired)
	if err != nil {
		return err
	}
	u := &unstructured.Unstructured{Object: content}
	unstructured.RemoveNestedField(u.Object, "status")
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "spec", "template", "metadata", "creationTimestamp")
	return c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), fieldOwner, client.ForceOwnership)
}

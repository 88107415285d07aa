package controller

import (
	"context"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	"github.com/workersvpc/connectivity-operator/internal/cloudflare"
	"github.com/workersvpc/connectivity-operator/internal/conditions"
	"github.com/workersvpc/connectivity-operator/internal/connector"
)

// tunnelHealthy is the API's status of a tunnel with working connections.
const tunnelHealthy = "healthy"

// ensureConnector writes the connector's token Secret, Deployment, PodDisruptionBudget and egress
// NetworkPolicy, then reports the tunnel's health: Ready needs an available connector and a
// tunnel Cloudflare calls healthy.
func (r *CloudflareTunnelReconciler) ensureConnector(ctx context.Context, s *tunnelScope, tunnel *cloudflare.Tunnel, token cloudflare.ConnectorToken) (ctrl.Result, error) {
	s.obj.Status.TunnelID = tunnel.ID
	s.obj.Status.TunnelStatus = tunnel.Status
	s.obj.Status.Connections = int32(min(tunnel.Connections, 1<<20)) //nolint:gosec // bounded above
	tokenHash, err := r.ensureToken(ctx, s, tunnel.ID, token)
	if err != nil {
		if _, isAPI := errors.AsType[*cloudflare.APIError](err); isAPI {
			return r.apiFailure(ctx, s.obj, err)
		}
		return ctrl.Result{}, err
	}
	if err := r.ensureWorkload(ctx, s.obj, tokenHash); err != nil {
		return ctrl.Result{}, err
	}
	return r.reportHealth(ctx, s.obj, tunnel)
}

// ensureToken makes sure the connector's Secret holds the token of this tunnel and returns the
// token's hash for the pod template. The Secret is read uncached; the token is fetched from
// Cloudflare only when the Secret is missing or belongs to another tunnel id.
func (r *CloudflareTunnelReconciler) ensureToken(ctx context.Context, s *tunnelScope, id string, token cloudflare.ConnectorToken) (string, error) {
	current := &corev1.Secret{}
	err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: s.obj.Namespace, Name: connector.SecretName(s.obj)}, current)
	switch {
	case err == nil && current.Annotations[v1alpha1.AnnotationTunnelID] == id && len(current.Data[connector.TokenKey]) > 0:
		return connector.TokenHash(string(current.Data[connector.TokenKey])), nil
	case err != nil && !apierrors.IsNotFound(err):
		return "", err
	}
	if token.IsZero() {
		if token, err = s.conn.cl.TunnelToken(ctx, id); err != nil {
			return "", err
		}
	}
	secret := connector.Secret(s.obj, token.Reveal())
	metav1.SetMetaDataAnnotation(&secret.ObjectMeta, v1alpha1.AnnotationTunnelID, id)
	if err := r.apply(ctx, s.obj, secret); err != nil {
		return "", err
	}
	return connector.TokenHash(token.Reveal()), nil
}

// ensureWorkload applies the Deployment, the PodDisruptionBudget and the NetworkPolicy; an object
// whose spec hash is unchanged in the cache is not sent again.
func (r *CloudflareTunnelReconciler) ensureWorkload(ctx context.Context, obj *v1alpha1.CloudflareTunnel, tokenHash string) error {
	if err := r.applyChanged(ctx, obj, connector.Deployment(obj, tokenHash), &appsv1.Deployment{}); err != nil {
		return err
	}
	if err := r.applyChanged(ctx, obj, connector.PodDisruptionBudget(obj), &policyv1.PodDisruptionBudget{}); err != nil {
		return err
	}
	users, err := r.usersOf(ctx, obj)
	if err != nil {
		return err
	}
	if policy := connector.NetworkPolicy(obj, r.destinationsOf(ctx, users)); policy != nil {
		return r.applyChanged(ctx, obj, policy, &networkingv1.NetworkPolicy{})
	}
	stale := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: obj.Namespace, Name: connector.DeploymentName(obj)}}
	return client.IgnoreNotFound(r.Delete(ctx, stale))
}

// applyChanged applies desired, owned by the tunnel; see applyIfChanged.
func (r *CloudflareTunnelReconciler) applyChanged(ctx context.Context, obj *v1alpha1.CloudflareTunnel, desired, current client.Object) error {
	return applyIfChanged(ctx, r.Client, obj, desired, current)
}

// apply writes desired, owned by the tunnel; see applyOwned.
func (r *CloudflareTunnelReconciler) apply(ctx context.Context, obj *v1alpha1.CloudflareTunnel, desired client.Object) error {
	return applyOwned(ctx, r.Client, obj, desired)
}

// reportHealth sets the conditions from the connector Deployment (in the cache) and the API's
// status of the tunnel.
func (r *CloudflareTunnelReconciler) reportHealth(ctx context.Context, obj *v1alpha1.CloudflareTunnel, tunnel *cloudflare.Tunnel) (ctrl.Result, error) {
	dep := &appsv1.Deployment{}
	err := r.Get(ctx, types.NamespacedName{Namespace: obj.Namespace, Name: connector.DeploymentName(obj)}, dep)
	if client.IgnoreNotFound(err) != nil {
		return ctrl.Result{}, err
	}
	obj.Status.AvailableReplicas = dep.Status.AvailableReplicas
	switch {
	case dep.Status.AvailableReplicas == 0:
		// The Deployment's status changes wake the object; no polling needed.
		conditions.MarkReconciling(obj, v1alpha1.ReasonConnectorUnavailable, fmt.Sprintf(
			"tunnel %s exists, but its cloudflared Deployment %s has no available pod yet: see kubectl describe deployment %s",
			tunnel.ID, connector.DeploymentName(obj), connector.DeploymentName(obj)))
		return r.resync(), nil
	case tunnel.Status != tunnelHealthy:
		conditions.MarkReconciling(obj, v1alpha1.ReasonTunnelDegraded, fmt.Sprintf(
			"the connector runs, but Cloudflare reports tunnel %s as %s: see the logs of Deployment %s (it needs UDP 7844 to the edge)",
			tunnel.ID, statusOrUnknown(tunnel.Status), connector.DeploymentName(obj)))
		return ctrl.Result{RequeueAfter: r.HealthPollInterval}, nil
	}
	ready(obj, v1alpha1.ReasonConnected, fmt.Sprintf("tunnel %s is healthy and its connector is available", tunnel.ID))
	return r.resync(), nil
}

func statusOrUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// Package connector builds the Kubernetes objects that run the cloudflared connector of a
// CloudflareTunnel: its token Secret, Deployment, PodDisruptionBudget and egress NetworkPolicy.
//
// The builders are pure (no client calls) so every field can be unit-tested. The controller
// applies what they return with server-side apply and sets owner references itself; each object
// carries TypeMeta for that, and an AnnotationSpecHash so an unchanged object need not be applied.
package connector

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
)

const (
	// TokenKey is the key of the connector token in the Secret; the Deployment reads it from there
	// so the token never appears in the Deployment itself.
	TokenKey = "token"

	// MetricsPort is cloudflared's --metrics port; /ready is probed there, so it must be fixed.
	MetricsPort = 2000

	// LabelTunnel carries the CloudflareTunnel's name, so the controller can map connector objects
	// and pods back to their tunnel.
	LabelTunnel = "connectivity.workersvpc.dev/tunnel"

	// AnnotationSpecHash holds a hash of the built object (without this annotation), so the
	// controller can skip applying an object whose built form has not changed.
	AnnotationSpecHash = "connectivity.workersvpc.dev/spec-hash"

	// AnnotationTokenHash sits on the pod template: a changed token changes the template and so
	// rolls the pods, which read TUNNEL_TOKEN only at start.
	AnnotationTokenHash = "connectivity.workersvpc.dev/token-hash"

	// ManagedBy is the app.kubernetes.io/managed-by value, telling people which tool owns the
	// objects and that hand edits will be overwritten.
	ManagedBy = "connectivity-operator"
)

// hashLength is the number of hex characters kept of a sha256: 64 bits is plenty to detect a
// change, and short enough to read in `kubectl describe`.
const hashLength = 16

// DeploymentName is the name of the connector Deployment, its PodDisruptionBudget and its
// NetworkPolicy; a fixed suffix keeps it from colliding with the user's own objects.
func DeploymentName(t *v1alpha1.CloudflareTunnel) string { return t.Name + "-cloudflared" }

// SecretName is the name of the Secret holding the connector token, which the Deployment's
// TUNNEL_TOKEN refers to.
func SecretName(t *v1alpha1.CloudflareTunnel) string { return t.Name + "-cloudflared-token" }

// Labels are the recommended app.kubernetes.io labels plus LabelTunnel, put on every object and
// pod, so users and tools can find everything that belongs to one tunnel's connector.
func Labels(t *v1alpha1.CloudflareTunnel) map[string]string {
	l := SelectorLabels(t)
	l["app.kubernetes.io/component"] = "connector"
	l["app.kubernetes.io/managed-by"] = ManagedBy
	return l
}

// SelectorLabels is the stable subset of Labels used in selectors. A Deployment's selector is
// immutable, so it holds only labels that can never change for a given tunnel.
func SelectorLabels(t *v1alpha1.CloudflareTunnel) map[string]string {
	return map[string]string{
		"app.kubernetes.io/name":     "cloudflared",
		"app.kubernetes.io/instance": t.Name,
		LabelTunnel:                  t.Name,
	}
}

// TokenHash is a short sha256 of the connector token, for AnnotationTokenHash: it changes with
// the token but reveals nothing usable about it, so it may sit in a visible annotation.
func TokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])[:hashLength]
}

// Secret is the Secret holding the connector token. It is not immutable, so a rotated token is
// written in place and the Deployment's token-hash annotation rolls the pods.
func Secret(t *v1alpha1.CloudflareTunnel, token string) *corev1.Secret {
	s := &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: objectMeta(t, SecretName(t)),
		Type:       corev1.SecretTypeOpaque,
		Immutable:  new(false),
		Data:       map[string][]byte{TokenKey: []byte(token)},
	}
	setSpecHash(&s.ObjectMeta, s)
	return s
}

// objectMeta is the metadata every built object shares.
func objectMeta(t *v1alpha1.CloudflareTunnel, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: t.Namespace, Labels: Labels(t)}
}

// setSpecHash sets AnnotationSpecHash on meta, which must be obj's metadata, to a hash of obj's
// JSON without that annotation. encoding/json sorts map keys, so the hash is deterministic.
func setSpecHash(meta *metav1.ObjectMeta, obj any) {
	delete(meta.Annotations, AnnotationSpecHash)
	b, err := json.Marshal(obj)
	if err != nil {
		// Unreachable for plain API structs; without a hash the controller just always applies.
		return
	}
	sum := sha256.Sum256(b)
	if meta.Annotations == nil {
		meta.Annotations = map[string]string{}
	}
	meta.Annotations[AnnotationSpecHash] = hex.EncodeToString(sum[:])[:hashLength]
}

// Package export builds the ConfigMap that hands a ConnectivityService's Workers VPC binding to a
// Worker's deployment (spec.export): the service id, its name in Cloudflare, the account id, and a
// wrangler.json fragment with the vpc_services binding, ready to merge into a Worker's config.
//
// The builder is pure (no client calls). The controller applies what it returns with server-side
// apply and sets the owner reference itself; the ConfigMap carries TypeMeta for that, and an
// AnnotationSpecHash so an unchanged ConfigMap need not be applied again.
package export

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	"github.com/workersvpc/connectivity-operator/internal/connector"
)

const (
	// KeyServiceID is the data key of the Cloudflare service id, which Workers bind to.
	KeyServiceID = "serviceID"
	// KeyName is the data key of the service's name in Cloudflare.
	KeyName = "name"
	// KeyAccountID is the data key of the Cloudflare account the service lives in.
	KeyAccountID = "accountID"
	// KeyWrangler is the data key of the wrangler.json fragment holding the vpc_services binding.
	// Its dot must be escaped in kubectl's jsonpath: {.data.wrangler\.json}.
	KeyWrangler = "wrangler.json"

	// AnnotationSpecHash holds a hash of the built ConfigMap (without this annotation), so the
	// controller can skip applying one whose built form has not changed. It is the same key the
	// connector objects use.
	AnnotationSpecHash = connector.AnnotationSpecHash
)

const (
	// labelService carries the ConnectivityService's name, so people and tools can find the
	// ConfigMap of a service.
	labelService = "connectivity.workersvpc.dev/service"

	// component is the app.kubernetes.io/component value of the export ConfigMap.
	component = "vpc-binding"

	// defaultSuffix is appended to the object's name when spec.export.configMapName is empty.
	defaultSuffix = "-vpc-binding"

	// hashLength is the number of hex characters kept of a sha256, as for the connector objects.
	hashLength = 16
)

// ConfigMapName is spec.export.configMapName or <obj.Name>-vpc-binding. It is meaningful only
// when obj has spec.export.
func ConfigMapName(obj *v1alpha1.ConnectivityService) string {
	if obj.Spec.Export != nil && obj.Spec.Export.ConfigMapName != "" {
		return obj.Spec.Export.ConfigMapName
	}
	return obj.Name + defaultSuffix
}

// ConfigMap builds the export ConfigMap for obj's service: serviceID is its Cloudflare id, name
// its name in Cloudflare and accountID the account it lives in. It is nil when obj has no
// spec.export. The ConfigMap has no owner reference; the controller sets it.
func ConfigMap(obj *v1alpha1.ConnectivityService, serviceID, name, accountID string) *corev1.ConfigMap {
	if obj.Spec.Export == nil {
		return nil
	}
	cm := &corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      ConfigMapName(obj),
			Namespace: obj.Namespace,
			Labels:    labels(obj),
		},
		Data: map[string]string{
			KeyServiceID: serviceID,
			KeyName:      name,
			KeyAccountID: accountID,
			KeyWrangler:  wranglerJSON(obj.Spec.Export.Binding, serviceID),
		},
	}
	setSpecHash(cm)
	return cm
}

// labels are the recommended app.kubernetes.io labels plus labelService. A ConnectivityService
// name may be up to 253 characters but a label value only 63, so labelService is left out for a
// longer name rather than making the ConfigMap impossible to apply.
func labels(obj *v1alpha1.ConnectivityService) map[string]string {
	l := map[string]string{
		"app.kubernetes.io/managed-by": connector.ManagedBy,
		"app.kubernetes.io/component":  component,
	}
	if len(validation.IsValidLabelValue(obj.Name)) == 0 {
		l[labelService] = obj.Name
	}
	return l
}

// wrangler is the part of a wrangler.json that binds a Worker to a Workers VPC service.
type wrangler struct {
	VPCServices []vpcService `json:"vpc_services"`
}

// vpcService is one entry of wrangler's vpc_services.
type vpcService struct {
	Binding   string `json:"binding"`
	ServiceID string `json:"service_id"`
}

// wranglerJSON is {"vpc_services": [{"binding": binding, "service_id": serviceID}]}, indented by
// two spaces with a trailing newline, as a wrangler.json file is usually written.
func wranglerJSON(binding, serviceID string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	// Encoding two strings cannot fail; Encode also writes the trailing newline.
	_ = enc.Encode(wrangler{VPCServices: []vpcService{{Binding: binding, ServiceID: serviceID}}})
	return buf.String()
}

// setSpecHash sets AnnotationSpecHash on cm to a hash of cm's JSON without that annotation.
// encoding/json sorts map keys, so the hash is deterministic.
func setSpecHash(cm *corev1.ConfigMap) {
	delete(cm.Annotations, AnnotationSpecHash)
	b, err := json.Marshal(cm)
	if err != nil {
		// Unreachable for a plain ConfigMap; without a hash the controller just always applies.
		return
	}
	sum := sha256.Sum256(b)
	if cm.Annotations == nil {
		cm.Annotations = map[string]string{}
	}
	cm.Annotations[AnnotationSpecHash] = hex.EncodeToString(sum[:])[:hashLength]
}

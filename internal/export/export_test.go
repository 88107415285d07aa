package export

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/util/jsonpath"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	"github.com/workersvpc/connectivity-operator/internal/connector"
)

const (
	testServiceID = "0191dce4-9ab4-7fce-b660-8e5dec5172da"
	testName      = "orders-api"
	testAccountID = "023e105f4ecef8ad9ca31a8372d0c353"
)

func newService() *v1alpha1.ConnectivityService {
	return &v1alpha1.ConnectivityService{
		ObjectMeta: metav1.ObjectMeta{Name: "orders-api", Namespace: "shop"},
		Spec: v1alpha1.ConnectivityServiceSpec{
			Type:   v1alpha1.ServiceTypeHTTP,
			Host:   v1alpha1.ServiceHost{Hostname: "orders.shop.svc.cluster.local"},
			Export: &v1alpha1.Export{Binding: "API"},
		},
	}
}

func build(t *testing.T, obj *v1alpha1.ConnectivityService, serviceID string) *corev1.ConfigMap {
	t.Helper()
	cm := ConfigMap(obj, serviceID, testName, testAccountID)
	if cm == nil {
		t.Fatal("ConfigMap = nil, want a ConfigMap for an object with spec.export")
	}
	return cm
}

func TestConfigMapName(t *testing.T) {
	obj := newService()
	if got := ConfigMapName(obj); got != "orders-api-vpc-binding" {
		t.Errorf("default ConfigMapName = %q, want orders-api-vpc-binding", got)
	}
	obj.Spec.Export.ConfigMapName = "orders-binding"
	if got := ConfigMapName(obj); got != "orders-binding" {
		t.Errorf("explicit ConfigMapName = %q, want orders-binding", got)
	}
	if got := build(t, obj, testServiceID).Name; got != "orders-binding" {
		t.Errorf("ConfigMap name = %q, want orders-binding", got)
	}
}

func TestMetadata(t *testing.T) {
	cm := build(t, newService(), testServiceID)
	if want := (metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}); cm.TypeMeta != want {
		t.Errorf("TypeMeta = %+v, want %+v", cm.TypeMeta, want)
	}
	if cm.Namespace != "shop" || cm.Name != "orders-api-vpc-binding" {
		t.Errorf("name = %s/%s, want shop/orders-api-vpc-binding", cm.Namespace, cm.Name)
	}
	wantLabels := map[string]string{
		"app.kubernetes.io/managed-by":        "connectivity-operator",
		"app.kubernetes.io/component":         "vpc-binding",
		"connectivity.workersvpc.dev/service": "orders-api",
	}
	if !reflect.DeepEqual(cm.Labels, wantLabels) {
		t.Errorf("labels = %v, want %v", cm.Labels, wantLabels)
	}
	if len(cm.OwnerReferences) != 0 {
		t.Errorf("owner references are the controller's job, got %v", cm.OwnerReferences)
	}
	if cm.Immutable != nil {
		t.Errorf("immutable = %v, want unset so a changed id or binding is written in place", *cm.Immutable)
	}
}

func TestServiceLabelLeftOutForNamesTooLongForALabel(t *testing.T) {
	obj := newService()
	obj.Name = strings.Repeat("a", 64)
	cm := build(t, obj, testServiceID)
	if v, ok := cm.Labels[labelService]; ok {
		t.Errorf("label %s = %q, want it left out: label values are at most 63 characters", labelService, v)
	}
	for k, v := range cm.Labels {
		if errs := validation.IsValidLabelValue(v); len(errs) != 0 {
			t.Errorf("label %s=%q is invalid: %v", k, v, errs)
		}
	}
}

func TestData(t *testing.T) {
	cm := build(t, newService(), testServiceID)
	wantKeys := []string{KeyAccountID, KeyName, KeyServiceID, KeyWrangler}
	if got := slices.Sorted(maps.Keys(cm.Data)); !slices.Equal(got, wantKeys) {
		t.Errorf("data keys = %v, want %v", got, wantKeys)
	}
	if len(cm.BinaryData) != 0 {
		t.Errorf("binaryData = %v, want none", cm.BinaryData)
	}
	for key, want := range map[string]string{
		KeyServiceID: testServiceID, KeyName: testName, KeyAccountID: testAccountID,
	} {
		if got := cm.Data[key]; got != want {
			t.Errorf("data[%s] = %q, want %q", key, got, want)
		}
	}
}

func TestWranglerJSON(t *testing.T) {
	cm := build(t, newService(), testServiceID)
	raw := cm.Data[KeyWrangler]

	// Exactly this structure, nothing more: decode into a generic value and compare.
	var got any
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("wrangler.json does not parse: %v\n%s", err, raw)
	}
	want := map[string]any{
		"vpc_services": []any{map[string]any{"binding": "API", "service_id": testServiceID}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("wrangler.json = %v, want %v", got, want)
	}

	wantText := "{\n" +
		"  \"vpc_services\": [\n" +
		"    {\n" +
		"      \"binding\": \"API\",\n" +
		"      \"service_id\": \"" + testServiceID + "\"\n" +
		"    }\n" +
		"  ]\n" +
		"}\n"
	if raw != wantText {
		t.Errorf("wrangler.json text =\n%s\nwant (two-space indent, trailing newline)\n%s", raw, wantText)
	}
}

func TestWranglerJSONEscapesValues(t *testing.T) {
	// The API validates both values, but the encoder must not depend on that.
	obj := newService()
	obj.Spec.Export.Binding = `A"B\C`
	cm := build(t, obj, "id\n<&>")
	var got wrangler
	if err := json.Unmarshal([]byte(cm.Data[KeyWrangler]), &got); err != nil {
		t.Fatalf("wrangler.json does not parse: %v\n%s", err, cm.Data[KeyWrangler])
	}
	want := wrangler{VPCServices: []vpcService{{Binding: `A"B\C`, ServiceID: "id\n<&>"}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("wrangler.json = %+v, want %+v", got, want)
	}
}

// TestReadableWithKubectlJSONPath reads the keys with the expressions the README gives, using
// the jsonpath package kubectl's -o jsonpath uses; the dot in wrangler.json must be escaped.
func TestReadableWithKubectlJSONPath(t *testing.T) {
	cm := build(t, newService(), testServiceID)
	b, err := json.Marshal(cm)
	if err != nil {
		t.Fatal(err)
	}
	var obj any
	if err := json.Unmarshal(b, &obj); err != nil {
		t.Fatal(err)
	}
	for expr, want := range map[string]string{
		`{.data.serviceID}`:      testServiceID,
		`{.data.wrangler\.json}`: cm.Data[KeyWrangler],
	} {
		jp := jsonpath.New("test")
		if err := jp.Parse(expr); err != nil {
			t.Fatalf("parse %s: %v", expr, err)
		}
		var out bytes.Buffer
		if err := jp.Execute(&out, obj); err != nil {
			t.Fatalf("execute %s: %v", expr, err)
		}
		if out.String() != want {
			t.Errorf("%s = %q, want %q", expr, out.String(), want)
		}
	}
}

func TestSpecHash(t *testing.T) {
	cm := build(t, newService(), testServiceID)
	got := cm.Annotations[AnnotationSpecHash]
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(got) {
		t.Fatalf("spec hash %q is not 16 hex characters", got)
	}
	if len(cm.Annotations) != 1 {
		t.Errorf("annotations = %v, want only the spec hash", cm.Annotations)
	}
	// Recompute independently: sha256 of the object's JSON without the annotation.
	delete(cm.Annotations, AnnotationSpecHash)
	b, err := json.Marshal(cm)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if want := hex.EncodeToString(sum[:])[:16]; got != want {
		t.Errorf("spec hash = %s, want %s (hash of the object without the annotation)", got, want)
	}
	if AnnotationSpecHash != connector.AnnotationSpecHash {
		t.Errorf("AnnotationSpecHash = %q, want the connector objects' %q", AnnotationSpecHash, connector.AnnotationSpecHash)
	}
}

func TestSpecHashChangesWithIDAndBindingOnly(t *testing.T) {
	hash := func(obj *v1alpha1.ConnectivityService, serviceID string) string {
		return build(t, obj, serviceID).Annotations[AnnotationSpecHash]
	}
	base := hash(newService(), testServiceID)

	if got := hash(newService(), testServiceID); got != base {
		t.Errorf("rebuilding the same ConfigMap changed the hash: %s, then %s", base, got)
	}

	unrelated := newService()
	unrelated.Generation = 7
	unrelated.ResourceVersion = "12345"
	unrelated.UID = "0b6b7c9e-1f1a-4f55-9d34-0a4d8f0e2c11"
	unrelated.Annotations = map[string]string{"example.com/note": "x"}
	unrelated.Spec.Host = v1alpha1.ServiceHost{Hostname: "other.shop.svc.cluster.local"}
	unrelated.Spec.Suspend = true
	unrelated.Status.ServiceID = "something-else"
	if got := hash(unrelated, testServiceID); got != base {
		t.Errorf("fields that are not exported changed the hash: %s, want %s", got, base)
	}

	if got := hash(newService(), "11111111-2222-3333-4444-555555555555"); got == base {
		t.Error("a different service id kept the same hash")
	}

	rebound := newService()
	rebound.Spec.Export.Binding = "ORDERS"
	if got := hash(rebound, testServiceID); got == base {
		t.Error("a different binding kept the same hash")
	}
}

func TestNilWithoutExport(t *testing.T) {
	obj := newService()
	obj.Spec.Export = nil
	if cm := ConfigMap(obj, testServiceID, testName, testAccountID); cm != nil {
		t.Errorf("ConfigMap = %+v, want nil without spec.export", cm)
	}
}

/*
Copyright 2026.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package v1alpha1_test

import (
	"context"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/workersvpc/connectivity-operator/api/v1alpha1"
)

// The messages of the CloudflareTunnel rules that guard a tunnel's identity on update.
const (
	tunnelNameImmutable = "name is fixed when the tunnel is created (default k8s_<namespace>_<object name>): " +
		"it cannot be added, changed or removed; create a new object for another tunnel"
	tunnelAccountImmutable = "accountRef is immutable: a tunnel cannot move between accounts; delete the object and create a new one instead"
	tunnelIDImmutable      = "tunnelID cannot change or be removed once set: create a new object for another tunnel"
	tunnelNameTooLong      = "a CloudflareTunnel's name is at most 52 characters, so the names of its connector's objects fit"
)

// validTunnel is the base every CloudflareTunnel case starts from: the smallest manifest, an empty
// spec, which the API server must accept and fill with defaults.
func validTunnel(ns string) *v1alpha1.CloudflareTunnel {
	return &v1alpha1.CloudflareTunnel{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "CloudflareTunnel"},
		ObjectMeta: metav1.ObjectMeta{GenerateName: "tunnel-", Namespace: ns},
	}
}

// setTunnel applies a typed change to a CloudflareTunnel manifest.
func setTunnel(mutate func(t *v1alpha1.CloudflareTunnel)) edit {
	return func(u *unstructured.Unstructured) {
		obj := &v1alpha1.CloudflareTunnel{}
		roundTrip(u.Object, obj)
		mutate(obj)
		u.Object = map[string]any{}
		roundTrip(obj, &u.Object)
	}
}

// named gives the manifest a fixed metadata.name instead of a generated one.
func named(name string) edit {
	return func(u *unstructured.Unstructured) {
		u.SetGenerateName("")
		u.SetName(name)
	}
}

// tunnelManifest is validTunnel with edits applied.
func tunnelManifest(ns string, edits ...edit) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	roundTrip(validTunnel(ns), &u.Object)
	for _, e := range edits {
		e(u)
	}
	return u
}

// withTunnelDefaults is what the API server is expected to store for spec: the defaults filled in.
func withTunnelDefaults(spec v1alpha1.CloudflareTunnelSpec) v1alpha1.CloudflareTunnelSpec {
	if spec.Connector.Replicas == nil {
		spec.Connector.Replicas = ptr.To[int32](2)
	}
	if spec.Connector.NetworkPolicy == nil {
		spec.Connector.NetworkPolicy = new(true)
	}
	if spec.DeletionPolicy == "" {
		spec.DeletionPolicy = v1alpha1.DeletionPolicyDelete
	}
	if spec.AccountRef != nil && spec.AccountRef.Kind == "" {
		spec.AccountRef.Kind = v1alpha1.AccountKindCluster
	}
	// Through JSON, as the stored object came, so that quantities compare equal.
	out := v1alpha1.CloudflareTunnelSpec{}
	roundTrip(spec, &out)
	return out
}

var _ = Describe("CloudflareTunnel validation", func() {
	var ns string

	BeforeEach(func(ctx SpecContext) {
		ns = newNamespace(ctx)
	})

	It("accepts the base object every case starts from and applies the defaults", func(ctx SpecContext) {
		obj := validTunnel(ns)
		Expect(k8sClient.Create(ctx, obj)).To(Succeed())

		got := &v1alpha1.CloudflareTunnel{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), got)).To(Succeed())
		Expect(got.Spec.Connector.Replicas).To(HaveValue(BeEquivalentTo(2)))
		Expect(got.Spec.Connector.NetworkPolicy).To(HaveValue(BeTrue()))
		Expect(got.Spec.DeletionPolicy).To(Equal(v1alpha1.DeletionPolicyDelete))
		Expect(got.Status.ObservedGeneration).To(BeEquivalentTo(-1))
		// Nothing else is defaulted: no name, tunnelID, accountRef or image is invented.
		Expect(got.Spec).To(Equal(withTunnelDefaults(v1alpha1.CloudflareTunnelSpec{})))
		Expect(got.Status).To(Equal(v1alpha1.CloudflareTunnelStatus{ObservedGeneration: -1}))
	})

	DescribeTable("rejects an invalid manifest at create",
		func(ctx SpecContext, e edit, message string) {
			expectInvalid(k8sClient.Create(ctx, tunnelManifest(ns, e)), message)
		},

		// metadata.name
		Entry("object name longer than 52 characters", named(strings.Repeat("a", 53)), tunnelNameTooLong),

		// spec
		Entry("missing spec", unset("spec"), "spec: Required value"),

		// spec.name
		Entry("spec.name empty", setField("", "spec", "name"), "spec.name in body should be at least 1 chars long"),
		Entry("spec.name longer than 253 characters", setTunnel(func(t *v1alpha1.CloudflareTunnel) {
			t.Spec.Name = strings.Repeat("a", 254)
		}), "spec.name: Too long: may not be more than 253"),
		Entry("spec.name with a leading space", setTunnel(func(t *v1alpha1.CloudflareTunnel) {
			t.Spec.Name = " edge"
		}), "name must not start or end with white space"),
		Entry("spec.name with a trailing newline", setTunnel(func(t *v1alpha1.CloudflareTunnel) {
			t.Spec.Name = "edge\n"
		}), "name must not start or end with white space"),

		// spec.tunnelID
		Entry("tunnelID not a UUID", setTunnel(func(t *v1alpha1.CloudflareTunnel) {
			t.Spec.TunnelID = "my-tunnel"
		}), "tunnelID must be a tunnel UUID such as 0191dce4-9ab4-7fce-b660-8e5dec5172da"),
		Entry("tunnelID a UUID without hyphens", setTunnel(func(t *v1alpha1.CloudflareTunnel) {
			t.Spec.TunnelID = strings.ReplaceAll(tunnelID, "-", "")
		}), "tunnelID must be a tunnel UUID such as 0191dce4-9ab4-7fce-b660-8e5dec5172da"),
		Entry("tunnelID empty", setField("", "spec", "tunnelID"),
			"tunnelID must be a tunnel UUID such as 0191dce4-9ab4-7fce-b660-8e5dec5172da"),
		Entry("tunnelID longer than a UUID", setTunnel(func(t *v1alpha1.CloudflareTunnel) {
			t.Spec.TunnelID = tunnelID + "0"
		}), "spec.tunnelID: Too long: may not be more than 36"),

		// spec.connector
		Entry("replicas 0", setTunnel(func(t *v1alpha1.CloudflareTunnel) {
			t.Spec.Connector.Replicas = ptr.To[int32](0)
		}), "spec.connector.replicas in body should be greater than or equal to 1"),
		Entry("replicas 21", setTunnel(func(t *v1alpha1.CloudflareTunnel) {
			t.Spec.Connector.Replicas = ptr.To[int32](21)
		}), "spec.connector.replicas in body should be less than or equal to 20"),
		Entry("an extraArg longer than 256 characters", setTunnel(func(t *v1alpha1.CloudflareTunnel) {
			t.Spec.Connector.ExtraArgs = []string{"--loglevel=debug", "--label=" + strings.Repeat("a", 249)}
		}), "spec.connector.extraArgs[1]: Too long: may not be more than 256"),
		Entry("more than 32 extraArgs", setTunnel(func(t *v1alpha1.CloudflareTunnel) {
			t.Spec.Connector.ExtraArgs = make([]string, 33)
			for i := range t.Spec.Connector.ExtraArgs {
				t.Spec.Connector.ExtraArgs[i] = "--loglevel=debug"
			}
		}), "spec.connector.extraArgs: Too many: 33: must have at most 32 items"),
		Entry("more than 32 tolerations", setTunnel(func(t *v1alpha1.CloudflareTunnel) {
			t.Spec.Connector.Tolerations = make([]corev1.Toleration, 33)
			for i := range t.Spec.Connector.Tolerations {
				t.Spec.Connector.Tolerations[i] = corev1.Toleration{Operator: corev1.TolerationOpExists}
			}
		}), "spec.connector.tolerations: Too many: 33: must have at most 32 items"),
		Entry("image empty", setField("", "spec", "connector", "image"),
			"spec.connector.image in body should be at least 1 chars long"),

		// enums
		Entry("deletionPolicy neither Delete nor Orphan", setTunnel(func(t *v1alpha1.CloudflareTunnel) {
			t.Spec.DeletionPolicy = "Retain"
		}), `spec.deletionPolicy: Unsupported value: "Retain": supported values: "Delete", "Orphan"`),

		// accountRef
		Entry("accountRef.kind unknown", setTunnel(func(t *v1alpha1.CloudflareTunnel) {
			t.Spec.AccountRef = &v1alpha1.AccountReference{Kind: "Account", Name: "prod"}
		}), `spec.accountRef.kind: Unsupported value: "Account": supported values: "CloudflareAccount", "ClusterCloudflareAccount"`),
		Entry("accountRef without name", setField(map[string]any{"kind": "CloudflareAccount"}, "spec", "accountRef"),
			"spec.accountRef.name: Required value"),
		Entry("accountRef.name not an object name", setTunnel(func(t *v1alpha1.CloudflareTunnel) {
			t.Spec.AccountRef = &v1alpha1.AccountReference{Name: "Team Account"}
		}), "accountRef.name must be a Kubernetes object name"),
	)

	DescribeTable("accepts a valid manifest and applies defaults",
		func(ctx SpecContext, e edit) {
			u := tunnelManifest(ns, e)
			sent := &v1alpha1.CloudflareTunnel{}
			roundTrip(u.Object, sent)
			Expect(k8sClient.Create(ctx, u)).To(Succeed())

			got := &v1alpha1.CloudflareTunnel{}
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(u), got)).To(Succeed())
			// Apart from the defaults, the server stores what was sent.
			Expect(got.Spec).To(Equal(withTunnelDefaults(sent.Spec)))
			Expect(got.Status.ObservedGeneration).To(BeEquivalentTo(-1))
		},
		Entry("an object name of 52 characters", named(strings.Repeat("a", 52))),
		Entry("a name, an accountRef without kind and Orphan", setTunnel(func(t *v1alpha1.CloudflareTunnel) {
			t.Spec.Name = "prod edge"
			t.Spec.AccountRef = &v1alpha1.AccountReference{Name: "shared"}
			t.Spec.DeletionPolicy = v1alpha1.DeletionPolicyOrphan
		})),
		Entry("a name of 253 characters", setTunnel(func(t *v1alpha1.CloudflareTunnel) {
			t.Spec.Name = strings.Repeat("a", 253)
		})),
		Entry("an adopted tunnelID in a CloudflareAccount", setTunnel(func(t *v1alpha1.CloudflareTunnel) {
			t.Spec.TunnelID = strings.ToUpper(tunnelID)
			t.Spec.AccountRef = &v1alpha1.AccountReference{Kind: v1alpha1.AccountKindNamespaced, Name: "team-account"}
		})),
		Entry("replicas 1, networkPolicy false", setTunnel(func(t *v1alpha1.CloudflareTunnel) {
			t.Spec.Connector.Replicas = ptr.To[int32](1)
			t.Spec.Connector.NetworkPolicy = new(false)
		})),
		Entry("replicas 20 and 32 extraArgs of 256 characters", setTunnel(func(t *v1alpha1.CloudflareTunnel) {
			t.Spec.Connector.Replicas = ptr.To[int32](20)
			t.Spec.Connector.ExtraArgs = make([]string, 32)
			for i := range t.Spec.Connector.ExtraArgs {
				t.Spec.Connector.ExtraArgs[i] = "--label=" + strings.Repeat("a", 248)
			}
		})),
		Entry("a full connector", setTunnel(func(t *v1alpha1.CloudflareTunnel) {
			t.Spec.Connector = v1alpha1.ConnectorSpec{
				Image:    "registry.example.com/cloudflare/cloudflared:2025.11.1",
				Replicas: ptr.To[int32](3),
				Resources: &corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
				},
				NodeSelector: map[string]string{"kubernetes.io/os": "linux"},
				Tolerations: []corev1.Toleration{{
					Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "edge", Effect: corev1.TaintEffectNoSchedule,
				}},
				Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
					RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
						MatchExpressions: []corev1.NodeSelectorRequirement{{
							Key: "topology.kubernetes.io/zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a", "b"},
						}},
					}}},
				}},
				ExtraArgs:     []string{"--loglevel=debug", "--metrics=0.0.0.0:2000"},
				NetworkPolicy: new(true),
			}
		})),
	)

	Context("on update", func() {
		// created stores a valid tunnel with the given spec and returns it as stored.
		created := func(ctx context.Context, spec v1alpha1.CloudflareTunnelSpec) *v1alpha1.CloudflareTunnel {
			obj := validTunnel(ns)
			obj.Spec = spec
			Expect(k8sClient.Create(ctx, obj)).To(Succeed())
			return obj
		}

		DescribeTable("rejects a change of the tunnel's identity",
			func(ctx SpecContext, before v1alpha1.CloudflareTunnelSpec, change func(s *v1alpha1.CloudflareTunnelSpec), message string) {
				obj := created(ctx, before)
				change(&obj.Spec)
				expectInvalid(k8sClient.Update(ctx, obj), message)
			},
			Entry("spec.name changed", v1alpha1.CloudflareTunnelSpec{Name: "edge"},
				func(s *v1alpha1.CloudflareTunnelSpec) { s.Name = "edge-2" }, tunnelNameImmutable),
			Entry("spec.name added", v1alpha1.CloudflareTunnelSpec{},
				func(s *v1alpha1.CloudflareTunnelSpec) { s.Name = "edge" }, tunnelNameImmutable),
			Entry("spec.name removed", v1alpha1.CloudflareTunnelSpec{Name: "edge"},
				func(s *v1alpha1.CloudflareTunnelSpec) { s.Name = "" }, tunnelNameImmutable),
			Entry("accountRef.name changed",
				v1alpha1.CloudflareTunnelSpec{AccountRef: &v1alpha1.AccountReference{Kind: v1alpha1.AccountKindNamespaced, Name: "a"}},
				func(s *v1alpha1.CloudflareTunnelSpec) { s.AccountRef.Name = "b" }, tunnelAccountImmutable),
			Entry("accountRef.kind changed",
				v1alpha1.CloudflareTunnelSpec{AccountRef: &v1alpha1.AccountReference{Kind: v1alpha1.AccountKindNamespaced, Name: "a"}},
				func(s *v1alpha1.CloudflareTunnelSpec) { s.AccountRef.Kind = v1alpha1.AccountKindCluster }, tunnelAccountImmutable),
			Entry("accountRef added", v1alpha1.CloudflareTunnelSpec{},
				func(s *v1alpha1.CloudflareTunnelSpec) {
					s.AccountRef = &v1alpha1.AccountReference{Kind: v1alpha1.AccountKindCluster, Name: "default"}
				}, tunnelAccountImmutable),
			Entry("accountRef removed",
				v1alpha1.CloudflareTunnelSpec{AccountRef: &v1alpha1.AccountReference{Name: "default"}},
				func(s *v1alpha1.CloudflareTunnelSpec) { s.AccountRef = nil }, tunnelAccountImmutable),
			Entry("tunnelID changed", v1alpha1.CloudflareTunnelSpec{TunnelID: tunnelID},
				func(s *v1alpha1.CloudflareTunnelSpec) { s.TunnelID = "7d8c6a3e-52f1-4c07-9a0b-2f1f4e6d8c90" }, tunnelIDImmutable),
			Entry("tunnelID removed", v1alpha1.CloudflareTunnelSpec{TunnelID: tunnelID},
				func(s *v1alpha1.CloudflareTunnelSpec) { s.TunnelID = "" }, tunnelIDImmutable),
		)

		It("accepts setting tunnelID once, then rejects changing or removing it", func(ctx SpecContext) {
			obj := created(ctx, v1alpha1.CloudflareTunnelSpec{})
			obj.Spec.TunnelID = tunnelID
			Expect(k8sClient.Update(ctx, obj)).To(Succeed())

			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
			Expect(obj.Spec.TunnelID).To(Equal(tunnelID))
			obj.Spec.TunnelID = "7d8c6a3e-52f1-4c07-9a0b-2f1f4e6d8c90"
			expectInvalid(k8sClient.Update(ctx, obj), tunnelIDImmutable)

			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
			obj.Spec.TunnelID = ""
			expectInvalid(k8sClient.Update(ctx, obj), tunnelIDImmutable)

			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
			Expect(obj.Spec.TunnelID).To(Equal(tunnelID))
		})

		It("accepts changes to the connector and deletionPolicy", func(ctx SpecContext) {
			obj := created(ctx, v1alpha1.CloudflareTunnelSpec{
				Name:       "edge",
				TunnelID:   tunnelID,
				AccountRef: &v1alpha1.AccountReference{Kind: v1alpha1.AccountKindNamespaced, Name: "a"},
			})
			obj.Spec.Connector = v1alpha1.ConnectorSpec{
				Image:         "cloudflare/cloudflared:2025.12.0",
				Replicas:      ptr.To[int32](4),
				NodeSelector:  map[string]string{"kubernetes.io/os": "linux"},
				ExtraArgs:     []string{"--loglevel=debug"},
				NetworkPolicy: new(false),
			}
			obj.Spec.DeletionPolicy = v1alpha1.DeletionPolicyOrphan
			Expect(k8sClient.Update(ctx, obj)).To(Succeed())
		})

		It("accepts an update that leaves out every defaulted field", func(ctx SpecContext) {
			obj := created(ctx, v1alpha1.CloudflareTunnelSpec{Name: "edge", AccountRef: &v1alpha1.AccountReference{Name: "shared"}})
			u := &unstructured.Unstructured{}
			roundTrip(obj, &u.Object)
			u.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("CloudflareTunnel"))
			unstructured.RemoveNestedField(u.Object, "spec", "accountRef", "kind")
			unstructured.RemoveNestedField(u.Object, "spec", "connector")
			unstructured.RemoveNestedField(u.Object, "spec", "deletionPolicy")
			Expect(unstructured.SetNestedField(u.Object, tunnelID, "spec", "tunnelID")).To(Succeed())
			Expect(k8sClient.Update(ctx, u)).To(Succeed())
		})

		It("accepts a status update from the operator", func(ctx SpecContext) {
			obj := created(ctx, v1alpha1.CloudflareTunnelSpec{Name: "edge"})
			obj.Status.TunnelID = tunnelID
			obj.Status.AccountID = accountID
			obj.Status.ObservedGeneration = obj.Generation
			Expect(k8sClient.Status().Update(ctx, obj)).To(Succeed())
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
			Expect(obj.Status.TunnelID).To(Equal(tunnelID))
			Expect(obj.Status.ObservedGeneration).To(Equal(obj.Generation))
		})
	})
})

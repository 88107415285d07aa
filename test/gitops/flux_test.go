package gitops_test

import (
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

var _ = Describe("the Flux example", func() {
	It("is a kustomize.toolkit.fluxcd.io/v1 Kustomization that waits for its objects", func() {
		data, err := os.ReadFile(filepath.Join("..", "..", "gitops", "flux", "kustomization.yaml"))
		Expect(err).NotTo(HaveOccurred())
		js, err := yaml.YAMLToJSON(data)
		Expect(err).NotTo(HaveOccurred())
		ks := &unstructured.Unstructured{}
		Expect(ks.UnmarshalJSON(js)).To(Succeed())
		Expect(ks.GetAPIVersion()).To(Equal("kustomize.toolkit.fluxcd.io/v1"))
		Expect(ks.GetKind()).To(Equal("Kustomization"))

		wait, _, err := unstructured.NestedBool(ks.Object, "spec", "wait")
		Expect(err).NotTo(HaveOccurred())
		Expect(wait).To(BeTrue())
		for _, field := range []string{"path", "interval", "timeout"} {
			value, _, err := unstructured.NestedString(ks.Object, "spec", field)
			Expect(err).NotTo(HaveOccurred())
			Expect(value).NotTo(BeEmpty(), "spec.%s", field)
		}
		Expect(ks.Object["spec"]).To(HaveKeyWithValue("sourceRef", HaveKeyWithValue("kind", "GitRepository")))
	})
})

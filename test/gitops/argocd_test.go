package gitops_test

import (
	"flag"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite gitops/argocd/argocd-cm.yaml from "+
	"gitops/argocd/resource_customizations/connectivity.workersvpc.dev/_/health.lua")

// healthTests is health_test.yaml in the format of Argo CD's resource_customizations
// (TestStructure in argo-cd util/lua/health_test.go): the cases that Argo CD's own harness runs
// once the directory is contributed upstream.
type healthTests struct {
	Tests []healthTestCase `json:"tests"`
}

// healthTestCase is one case: the exact health, message included, for the object at InputPath.
type healthTestCase struct {
	HealthStatus health `json:"healthStatus"`
	InputPath    string `json:"inputPath"`
}

// readHealthTests reads health_test.yaml strictly: Argo CD's harness decodes it leniently, so a
// misspelt field would silently leave an expectation empty there.
func readHealthTests() ([]healthTestCase, error) {
	file := filepath.Join(customizationDir, "health_test.yaml")
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var tests healthTests
	if err := yaml.UnmarshalStrict(data, &tests); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(tests.Tests) == 0 {
		return nil, fmt.Errorf("%s has no tests", file)
	}
	return tests.Tests, nil
}

// healthTestEntries makes one table entry per case of health_test.yaml, named by its inputPath
// as Argo CD names its subtests.
func healthTestEntries(cases []healthTestCase) []TableEntry {
	entries := make([]TableEntry, 0, len(cases))
	for _, c := range cases {
		entries = append(entries, Entry(c.InputPath, c))
	}
	return entries
}

// inputKind is the kind an input is named after: testdata/<lowercase kind>-<case>.yaml.
func inputKind(inputPath string) string {
	kind, _, _ := strings.Cut(strings.TrimPrefix(inputPath, "testdata/"), "-")
	return kind
}

// What the script says of an object without conditions: the wording depends on obj.kind.
const (
	waitingForService     = "Waiting for the operator to reconcile the service"
	waitingForTunnel      = "Waiting for the operator to create the tunnel"
	waitingForCredentials = "Waiting for the operator to verify the credentials"
	waitingForOtherKind   = "Waiting for the operator to reconcile the object"
)

var _ = Describe("Argo CD health checks", func() {
	cases, readErr := readHealthTests()

	It("reads health_test.yaml", func() {
		Expect(readErr).NotTo(HaveOccurred())
	})

	DescribeTable("returns the health in health_test.yaml",
		func(c healthTestCase) {
			obj := loadFixture(c.InputPath)
			Expect(obj.GroupVersionKind().Group).To(Equal(apiGroup))
			Expect(strings.ToLower(obj.GetKind())).To(Equal(inputKind(c.InputPath)),
				"the input's name does not start with its kind")

			got, err := runHealthScript(healthScript(), obj.Object)
			Expect(err).NotTo(HaveOccurred())
			Expect(got).To(Equal(c.HealthStatus))
		},
		healthTestEntries(cases),
	)

	It("has a case in health_test.yaml and a kstatus expectation for every input, and no other", func() {
		Expect(readErr).NotTo(HaveOccurred())
		inputs := make([]string, 0, len(cases))
		for _, c := range cases {
			Expect(inputs).NotTo(ContainElement(c.InputPath), "health_test.yaml lists %s twice", c.InputPath)
			inputs = append(inputs, c.InputPath)
		}
		var files []string
		Expect(fs.WalkDir(os.DirFS(customizationDir), "testdata", func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				files = append(files, path)
			}
			return err
		})).To(Succeed())
		Expect(inputs).To(ConsistOf(files), "health_test.yaml against the files in testdata/")
		Expect(slices.Collect(maps.Keys(kstatusInputs()))).To(ConsistOf(files),
			"the kstatus table against the files in testdata/")
	})

	// The wildcard entry in argocd-cm.yaml also hands the script kinds it does not know (a kind
	// added to the group later), and the script must not depend on obj.kind being there.
	DescribeTable("words the message for a new object by kind",
		func(kind any, want string) {
			obj := map[string]any{"apiVersion": apiGroup + "/v1alpha1"}
			if kind != nil {
				obj["kind"] = kind
			}
			Expect(runHealthScript(healthScript(), obj)).To(Equal(health{Status: progressing, Message: want}))
		},
		Entry("ConnectivityService", "ConnectivityService", waitingForService),
		Entry("CloudflareTunnel", "CloudflareTunnel", waitingForTunnel),
		Entry("CloudflareAccount", "CloudflareAccount", waitingForCredentials),
		Entry("ClusterCloudflareAccount", "ClusterCloudflareAccount", waitingForCredentials),
		Entry("a kind the script does not know", "TunnelRoute", waitingForOtherKind),
		Entry("no kind", nil, waitingForOtherKind),
		Entry("a kind of the wrong type", int64(3), waitingForOtherKind),
	)

	// Objects Argo CD may see from other writers, or from a future operator: the script must
	// still return a valid status rather than fail (which Argo CD shows as a health error), for
	// every kind, a kind it does not know, and no kind at all.
	DescribeTable("tolerates unexpected objects",
		func(obj map[string]any, want string) {
			for _, kind := range append([]string{"", "TunnelRoute"}, kinds...) {
				withKind := maps.Clone(obj)
				if kind != "" {
					withKind["kind"] = kind
				}
				got, err := runHealthScript(healthScript(), withKind)
				Expect(err).NotTo(HaveOccurred(), kind)
				Expect(got.Status).To(Equal(want), kind)
				Expect(got.Message).NotTo(BeEmpty(), kind)
			}
		},
		Entry("an empty object", map[string]any{}, progressing),
		Entry("status of the wrong type", map[string]any{"status": "broken"}, progressing),
		Entry("conditions as a map", map[string]any{
			"status": map[string]any{"conditions": map[string]any{"Ready": map[string]any{"status": "True"}}},
		}, progressing),
		Entry("conditions with junk, Ready=True without observedGeneration", map[string]any{
			"metadata": map[string]any{"generation": int64(1)},
			"status": map[string]any{"conditions": []any{"junk", int64(3), nil,
				map[string]any{"type": "Ready", "status": "True"}}},
		}, progressing),
		Entry("Ready=True without a message, no generation", map[string]any{
			"status": map[string]any{"observedGeneration": int64(1),
				"conditions": []any{map[string]any{"type": "Ready", "status": "True"}}},
		}, healthy),
		Entry("Stalled=True without a message", map[string]any{
			"metadata": map[string]any{"generation": int64(2)},
			"status": map[string]any{"observedGeneration": int64(2),
				"conditions": []any{map[string]any{"type": "Stalled", "status": "True", "reason": "InvalidSpec"}}},
		}, degraded),
		Entry("Ready=Unknown", map[string]any{
			"metadata": map[string]any{"generation": int64(1)},
			"status": map[string]any{"observedGeneration": int64(1),
				"conditions": []any{map[string]any{"type": "Ready", "status": "Unknown", "reason": "Progressing"}}},
		}, progressing),
	)

	It("ships argocd-cm.yaml with exactly health.lua for every kind of the group", func() {
		cmPath := filepath.Join(argocdDir, "argocd-cm.yaml")
		if *update {
			Expect(os.WriteFile(cmPath, []byte(renderArgoCDConfigMap()), 0o644)).To(Succeed())
		}
		data, err := os.ReadFile(cmPath)
		Expect(err).NotTo(HaveOccurred())
		var cm corev1.ConfigMap
		Expect(yaml.UnmarshalStrict(data, &cm)).To(Succeed())
		Expect(cm.APIVersion).To(Equal("v1"))
		Expect(cm.Kind).To(Equal("ConfigMap"))
		Expect(cm.Name).To(Equal("argocd-cm"))
		// The API server validates data keys the same way: a key with "*" (such as
		// resource.customizations.health.<group>_*) would make the whole ConfigMap invalid.
		for key := range cm.Data {
			Expect(validation.IsConfigMapKey(key)).To(BeEmpty(), "argocd-cm key %q", key)
		}
		Expect(cm.Data).To(HaveLen(1))
		Expect(cm.Data).To(HaveKey(argoCDCustomizationsKey))

		var customizations map[string]argoCDCustomization
		Expect(yaml.UnmarshalStrict([]byte(cm.Data[argoCDCustomizationsKey]), &customizations)).To(Succeed())
		Expect(customizations).To(Equal(map[string]argoCDCustomization{
			argoCDHealthPattern: {HealthLua: healthScript()},
		}), "argocd-cm.yaml is out of date: run go test ./test/gitops/ -args -update")
	})

	// Argo CD matches "<group>/<kind>" against the entry with github.com/gobwas/glob, in which "*"
	// matches any run of characters; path.Match agrees on this pattern, whose "*" comes after the
	// last "/".
	It("applies the wildcard entry to every kind of the group and nothing else", func() {
		for _, kind := range kinds {
			Expect(path.Match(argoCDHealthPattern, apiGroup+"/"+kind)).To(BeTrue(), kind)
		}
		for _, other := range []string{"apps/Deployment", "other.workersvpc.dev/ConnectivityService",
			apiGroup + ".example.com/ConnectivityService", "x." + apiGroup + "/ConnectivityService"} {
			Expect(path.Match(argoCDHealthPattern, other)).To(BeFalse(), other)
		}
	})
})

// argoCDCustomizationsKey is the argocd-cm key whose value is YAML: resource customizations keyed
// by "<group>/<kind>". It is the only place Argo CD (2.6 and later) takes a wildcard: a ConfigMap
// key cannot contain "*", so resource.customizations.health.<group>_* is not an option.
const argoCDCustomizationsKey = "resource.customizations"

// argoCDHealthPattern is the resource.customizations entry that gives every kind of the group
// health.lua.
const argoCDHealthPattern = apiGroup + "/*"

// argoCDCustomization is the part of a resource.customizations entry that argocd-cm.yaml sets
// (Argo CD's ResourceOverride has more fields; a strict decode rejects any other).
type argoCDCustomization struct {
	HealthLua string `json:"health.lua"`
}

// renderArgoCDConfigMap writes argocd-cm.yaml: the customization's health.lua as a literal block
// scalar nested in the resource.customizations one, whose value is the file's exact content (one
// final newline, kept by the default "clip" chomping of both).
func renderArgoCDConfigMap() string {
	var b strings.Builder
	b.WriteString(`# Argo CD health check for connectivity-operator, for the argocd-cm ConfigMap (with the Helm chart:
# configs.cm). Merge the data key into your argocd-cm; Argo CD picks it up without a restart. If
# your argocd-cm already has a resource.customizations key, add the connectivity.workersvpc.dev/*
# entry to its value instead. The entry's wildcard gives every kind of the group the same script
# and needs Argo CD 2.6 or later (2.14 or later if other entries match the group too); for older
# versions, see gitops/README.md.
# Generated from gitops/argocd/resource_customizations/connectivity.workersvpc.dev/_/health.lua:
# edit that, then run
#   go test ./test/gitops/ -args -update
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
  namespace: argocd
  labels:
    app.kubernetes.io/name: argocd-cm
    app.kubernetes.io/part-of: argocd
data:
`)
	b.WriteString("  " + argoCDCustomizationsKey + ": |\n")
	b.WriteString("    " + argoCDHealthPattern + ":\n")
	b.WriteString("      health.lua: |\n")
	for line := range strings.Lines(healthScript()) {
		if strings.TrimSpace(line) == "" {
			b.WriteString("\n")
			continue
		}
		b.WriteString("        " + line)
	}
	return b.String()
}

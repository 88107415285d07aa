package chart

import (
	"path/filepath"
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/diff"
)

// keepAnnotation stops `helm uninstall` from deleting a resource.
const keepAnnotation = "helm.sh/resource-policy"

// baseCRDs returns the CRDs controller-gen generates into config/crd/bases, by name.
func baseCRDs(t *testing.T) map[string]*unstructured.Unstructured {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, "config", "crd", "bases", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	crds := map[string]*unstructured.Unstructured{}
	for _, f := range files {
		rel, _ := filepath.Rel(repoRoot, f)
		crd := only(t, parseFile(t, rel), "CustomResourceDefinition")
		crds[crd.GetName()] = crd
	}
	if len(crds) == 0 {
		t.Fatal("no CRDs in config/crd/bases")
	}
	return crds
}

// TestChartCRDsMatchBases checks that the chart renders exactly the CRDs of config/crd/bases, each
// unchanged except for helm.sh/resource-policy: keep (so an uninstall never deletes the CRDs and,
// with them, every user's objects). `make helm-crds` copies them; this test catches a forgotten copy.
func TestChartCRDsMatchBases(t *testing.T) {
	bases := baseCRDs(t)
	for name, args := range map[string][]string{"defaults": nil, "all options": allOptions()} {
		t.Run(name, func(t *testing.T) {
			crds := ofKind(parseObjects(t, helmTemplate(t, args...)), "CustomResourceDefinition")
			if len(crds) != len(bases) {
				t.Errorf("the chart renders %d CRDs, config/crd/bases has %d: run `make helm-crds`", len(crds), len(bases))
			}
			for _, crd := range crds {
				base, ok := bases[crd.GetName()]
				if !ok {
					t.Errorf("the chart's CRD %s is not in config/crd/bases: run `make helm-crds`", crd.GetName())
					continue
				}
				annotations := crd.GetAnnotations()
				if annotations[keepAnnotation] != "keep" {
					t.Errorf("CRD %s lacks %s: keep; an uninstall would delete every object", crd.GetName(), keepAnnotation)
				}
				delete(annotations, keepAnnotation)
				crd.SetAnnotations(annotations)
				if !reflect.DeepEqual(crd.Object, base.Object) {
					t.Errorf("CRD %s differs from config/crd/bases (run `make helm-crds`):\n%s",
						crd.GetName(), diff.Diff(base.Object, crd.Object))
				}
			}
		})
	}
}

// TestKustomizeInstallsEveryCRD checks that config/default (`make deploy`, and what test/e2e
// installs) carries every CRD of config/crd/bases unchanged: a CRD that controller-gen generates
// but config/crd/kustomization.yaml does not list leaves the manager unable to start.
func TestKustomizeInstallsEveryCRD(t *testing.T) {
	bases := baseCRDs(t)
	rendered := parseObjects(t, kustomizeBuild(t, filepath.Join(repoRoot, "config", "default")))
	crds := ofKind(rendered, "CustomResourceDefinition")
	installed := map[string]bool{}
	for _, crd := range crds {
		installed[crd.GetName()] = true
		base, ok := bases[crd.GetName()]
		if !ok {
			t.Errorf("config/default installs CRD %s, which is not in config/crd/bases", crd.GetName())
			continue
		}
		if !reflect.DeepEqual(crd.Object, base.Object) {
			t.Errorf("config/default changes CRD %s:\n%s", crd.GetName(), diff.Diff(base.Object, crd.Object))
		}
	}
	for name := range bases {
		if !installed[name] {
			t.Errorf("config/default does not install CRD %s: list it in config/crd/kustomization.yaml", name)
		}
	}
}

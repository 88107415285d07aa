package chart

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

const (
	// rulesFile is the source of the PrometheusRule: a plain rule file that promtool checks.
	rulesFile = "dist/chart/files/prometheus-rules.yaml"
	// dashboardFile is the source of the Grafana dashboard ConfigMap.
	dashboardFile = "dist/chart/files/grafana-dashboard.json"
	// dashboardKey is the dashboard's key in the ConfigMap.
	dashboardKey = "connectivity-operator.json"
)

// dashboards returns the rendered ConfigMaps that carry a Grafana dashboard.
func dashboards(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, cm := range ofKind(objs, "ConfigMap") {
		if _, ok, _ := unstructured.NestedString(cm.Object, "data", dashboardKey); ok {
			out = append(out, cm)
		}
	}
	return out
}

// TestRenderMonitoringOffByDefault checks that neither the PrometheusRule nor the dashboard is
// rendered by default: both need software (prometheus-operator, Grafana) the cluster may not have.
func TestRenderMonitoringOffByDefault(t *testing.T) {
	objs := parseObjects(t, helmTemplate(t))
	if n := len(ofKind(objs, "PrometheusRule")); n > 0 {
		t.Errorf("%d PrometheusRules rendered by default", n)
	}
	if n := len(dashboards(objs)); n > 0 {
		t.Errorf("%d dashboard ConfigMaps rendered by default", n)
	}
}

// TestRenderPrometheusRule checks that the PrometheusRule carries exactly the rules of the rule
// file that promtool tests, with the alerts' Prometheus templates untouched by Helm, the extra
// labels on the object and on every alert, and the namespace option.
func TestRenderPrometheusRule(t *testing.T) {
	rule := only(t, parseObjects(t, helmTemplate(t, allOptions()...)), "PrometheusRule")
	if rule.GetAPIVersion() != "monitoring.coreos.com/v1" || rule.GetNamespace() != namespace {
		t.Errorf("PrometheusRule %s in %q, want monitoring.coreos.com/v1 in the release namespace",
			rule.GetAPIVersion(), rule.GetNamespace())
	}
	if got := rule.GetLabels()["release"]; got != "kube-prometheus-stack" {
		t.Errorf("PrometheusRule label release = %q, want prometheusRule.labels' kube-prometheus-stack", got)
	}

	want := ruleFile(t)
	groups, _, _ := unstructured.NestedSlice(rule.Object, "spec", "groups")
	if len(groups) == 0 {
		t.Fatal("the PrometheusRule has no groups")
	}
	got := alertsByName(t, groups)
	if len(got) != len(alertsByName(t, want)) {
		t.Errorf("the PrometheusRule has %d alerts, the rule file %d", len(got), len(alertsByName(t, want)))
	}
	for name, wantRule := range alertsByName(t, want) {
		gotRule, ok := got[name]
		if !ok {
			t.Errorf("alert %s of the rule file is not in the PrometheusRule", name)
			continue
		}
		labels, _ := gotRule["labels"].(map[string]any)
		if labels["team"] != "platform" {
			t.Errorf("alert %s labels %v lack prometheusRule.alertLabels' team: platform", name, labels)
		}
		delete(labels, "team")
		if !reflect.DeepEqual(gotRule, wantRule) {
			t.Errorf("alert %s differs from the rule file:\n got %v\nwant %v", name, gotRule, wantRule)
		}
		annotations, _ := gotRule["annotations"].(map[string]any)
		if s, _ := annotations["summary"].(string); !strings.Contains(s, "{{") {
			t.Errorf("alert %s summary %q has no Prometheus template left", name, s)
		}
	}

	t.Run("namespace and an alert label that overrides severity", func(t *testing.T) {
		rule := only(t, parseObjects(t, helmTemplate(t, "--set",
			"prometheusRule.enabled=true,prometheusRule.namespace=monitoring,prometheusRule.alertLabels.severity=page")),
			"PrometheusRule")
		if rule.GetNamespace() != "monitoring" {
			t.Errorf("namespace = %q, want monitoring", rule.GetNamespace())
		}
		groups, _, _ := unstructured.NestedSlice(rule.Object, "spec", "groups")
		for name, r := range alertsByName(t, groups) {
			if labels, _ := r["labels"].(map[string]any); labels["severity"] != "page" {
				t.Errorf("alert %s severity = %v, want prometheusRule.alertLabels' page", name, labels["severity"])
			}
		}
	})
}

// ruleFile reads the groups of the rule file.
func ruleFile(t *testing.T) []any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, rulesFile))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []any `json:"groups"`
	}
	if err := yaml.Unmarshal(data, &file); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	return file.Groups
}

// alertsByName indexes the alerting rules of rule groups by alert name.
func alertsByName(t *testing.T, groups []any) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, g := range groups {
		group, _ := g.(map[string]any)
		rules, _ := group["rules"].([]any)
		for _, r := range rules {
			rule, _ := r.(map[string]any)
			name, _ := rule["alert"].(string)
			if name == "" {
				t.Errorf("group %v has a rule without an alert name: %v", group["name"], rule)
				continue
			}
			out[name] = rule
		}
	}
	return out
}

// TestRenderGrafanaDashboard checks that the dashboard ConfigMap carries the dashboard file as is,
// with the label Grafana's sidecar discovers it by, and the namespace, label and annotation options.
func TestRenderGrafanaDashboard(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, dashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := json.Unmarshal(data, &want); err != nil {
		t.Fatalf("%s is not JSON: %v", dashboardFile, err)
	}

	cases := []struct {
		name                   string
		args                   []string
		ns, label, value, note string
	}{
		{"all options", allOptions(), namespace, "grafana_dashboard", "1", "Operators"},
		{"own label and namespace", []string{"--set", "grafanaDashboard.enabled=true,grafanaDashboard.namespace=monitoring," +
			"grafanaDashboard.label=dashboards,grafanaDashboard.labelValue=connectivity"},
			"monitoring", "dashboards", "connectivity", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			found := dashboards(parseObjects(t, helmTemplate(t, tc.args...)))
			if len(found) != 1 {
				t.Fatalf("%d dashboard ConfigMaps rendered, want 1", len(found))
			}
			cm := found[0]
			if cm.GetNamespace() != tc.ns {
				t.Errorf("namespace = %q, want %q", cm.GetNamespace(), tc.ns)
			}
			if got := cm.GetLabels()[tc.label]; got != tc.value {
				t.Errorf("label %s = %q, want %q (labels %v)", tc.label, got, tc.value, cm.GetLabels())
			}
			if got := cm.GetAnnotations()["grafana_folder"]; got != tc.note {
				t.Errorf("annotation grafana_folder = %q, want %q", got, tc.note)
			}
			text, _, _ := unstructured.NestedString(cm.Object, "data", dashboardKey)
			var got map[string]any
			if err := json.Unmarshal([]byte(text), &got); err != nil {
				t.Fatalf("the ConfigMap's dashboard is not JSON: %v", err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("the ConfigMap's dashboard differs from %s", dashboardFile)
			}
		})
	}
}

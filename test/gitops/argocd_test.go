package gitops_test

import (
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite gitops/argocd/argocd-cm.yaml from the health.lua files")

// wantMessage says what hs.message must be for one fixture.
type wantMessage func(obj *unstructured.Unstructured) string

// conditionMessage expects the message of the fixture's condition of this type.
func conditionMessage(condType string) wantMessage {
	return func(obj *unstructured.Unstructured) string {
		conds, _, err := unstructured.NestedSlice(obj.Object, "status", "conditions")
		Expect(err).NotTo(HaveOccurred())
		for _, c := range conds {
			if cond, _ := c.(map[string]any); cond["type"] == condType {
				return cond["message"].(string)
			}
		}
		Fail("the fixture has no " + condType + " condition")
		return ""
	}
}

// literal expects a message the script makes itself.
func literal(message string) wantMessage {
	return func(*unstructured.Unstructured) string { return message }
}

// behind expects the message for a generation the operator has not observed yet.
func behind(generation, observed int) wantMessage {
	return literal(fmt.Sprintf("Waiting for the operator to observe generation %d (last observed: %d)",
		generation, observed))
}

const (
	waitingForService     = "Waiting for the operator to reconcile the service"
	waitingForCredentials = "Waiting for the operator to verify the credentials"
)

// fixtureCase is one fixture with what Argo CD (the Lua check) and kstatus (Flux, kubectl wait)
// must make of it. Where they differ, the comment says why.
type fixtureCase struct {
	path        string
	argo        string
	message     wantMessage
	kstatus     kstatus.Status
	description string
}

var serviceCases = []fixtureCase{
	// kstatus cannot tell a new object from one without conditions: see gitops/README.md.
	{"no-status", progressing, literal(waitingForService), kstatus.CurrentStatus, "no status yet"},
	{"no-conditions", progressing, literal(waitingForService), kstatus.InProgressStatus,
		"observedGeneration -1, no conditions"},
	{"progressing", progressing, conditionMessage("Ready"), kstatus.InProgressStatus, "Reconciling/Progressing"},
	{"account-not-ready", progressing, conditionMessage("Ready"), kstatus.InProgressStatus, "Reconciling/AccountNotReady"},
	{"rate-limited", progressing, conditionMessage("Ready"), kstatus.InProgressStatus, "Reconciling/RateLimited"},
	{"api-error", progressing, conditionMessage("Ready"), kstatus.InProgressStatus, "Reconciling/APIError"},
	{"credentials-not-found", progressing, conditionMessage("Ready"), kstatus.InProgressStatus,
		"Reconciling/CredentialsNotFound"},
	{"ready", healthy, conditionMessage("Ready"), kstatus.CurrentStatus, "Ready, generation observed"},
	{"ready-generation-behind", progressing, behind(4, 3), kstatus.InProgressStatus,
		"Ready, but observedGeneration behind"},
	{"stalled-name-conflict", degraded, conditionMessage("Stalled"), kstatus.FailedStatus, "Stalled/NameConflict"},
	// kstatus reads Ready=False as InProgress; the operator always sets Stalled with a terminal reason.
	{"ready-false-tunnel-not-found", degraded, conditionMessage("Ready"), kstatus.InProgressStatus,
		"Ready=False/TunnelNotFound without Stalled"},
	{"stale-stall-after-spec-update", progressing, behind(3, 2), kstatus.InProgressStatus,
		"Stalled for an older generation"},
	// kstatus reports any object with a deletionTimestamp as Terminating; Argo CD shows "Pending
	// deletion" without running the script, which still has an answer for other callers.
	{"deleting", progressing, conditionMessage("Ready"), kstatus.TerminatingStatus, "Reconciling/Deleting"},
	{"stalled-credentials-not-found-on-delete", degraded, conditionMessage("Stalled"), kstatus.TerminatingStatus,
		"Stalled/CredentialsNotFound on delete"},
}

var accountCases = []fixtureCase{
	{"no-status", progressing, literal(waitingForCredentials), kstatus.CurrentStatus, "no status yet"},
	{"secret-not-found", progressing, conditionMessage("Ready"), kstatus.InProgressStatus, "Reconciling/SecretNotFound"},
	{"rate-limited", progressing, conditionMessage("Ready"), kstatus.InProgressStatus, "Reconciling/RateLimited"},
	{"verified", healthy, conditionMessage("Ready"), kstatus.CurrentStatus, "Verified, generation observed"},
	{"verified-generation-behind", progressing, behind(3, 2), kstatus.InProgressStatus,
		"Verified, but observedGeneration behind"},
	{"stalled-credentials-invalid", degraded, conditionMessage("Stalled"), kstatus.FailedStatus,
		"Stalled/CredentialsInvalid"},
	{"ready-false-permission-denied", degraded, conditionMessage("Ready"), kstatus.InProgressStatus,
		"Ready=False/PermissionDenied without Stalled"},
}

// fixtureTable lists the cases of every kind; the account cases apply to both account kinds.
var fixtureTable = []struct {
	kind  string
	cases []fixtureCase
}{
	{"ConnectivityService", serviceCases},
	{"CloudflareAccount", accountCases},
	{"ClusterCloudflareAccount", accountCases},
}

// fixturePath is where a kind's fixture lives under testdata.
func fixturePath(kind string, c fixtureCase) string {
	return filepath.Join(strings.ToLower(kind), c.path+".yaml")
}

// fixtureEntries makes the table entries: every case of every kind.
func fixtureEntries() []TableEntry {
	var entries []TableEntry
	for _, k := range fixtureTable {
		for _, c := range k.cases {
			entries = append(entries, Entry(k.kind+": "+c.description, k.kind, fixturePath(k.kind, c), c))
		}
	}
	return entries
}

var _ = Describe("Argo CD health checks", func() {
	DescribeTable("assess the operator's status like kstatus does",
		func(kind, path string, c fixtureCase) {
			obj := loadFixture(path)
			Expect(obj.GroupVersionKind().Group).To(Equal(apiGroup))
			Expect(obj.GetKind()).To(Equal(kind))

			got, err := runHealthScript(healthScript(kind), obj.Object)
			Expect(err).NotTo(HaveOccurred())
			Expect(got).To(Equal(health{Status: c.argo, Message: c.message(obj)}))

			res, err := kstatus.Compute(obj)
			Expect(err).NotTo(HaveOccurred())
			Expect(res.Status).To(Equal(c.kstatus), res.Message)
		},
		fixtureEntries(),
	)

	It("has a case for every fixture", func() {
		listed := map[string]bool{}
		for _, k := range fixtureTable {
			for _, c := range k.cases {
				listed[fixturePath(k.kind, c)] = true
			}
		}
		Expect(fs.WalkDir(os.DirFS("testdata"), ".", func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				Expect(listed).To(HaveKey(filepath.FromSlash(path)), "testdata/%s has no case", path)
			}
			return err
		})).To(Succeed())
	})

	// Objects Argo CD may see from other writers, or from a future operator: the script must
	// still return a valid status rather than fail (which Argo CD shows as a health error).
	DescribeTable("tolerates unexpected objects",
		func(obj map[string]any, want string) {
			for _, kind := range kinds {
				got, err := runHealthScript(healthScript(kind), obj)
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

	It("ships argocd-cm.yaml with exactly the health.lua files", func() {
		path := filepath.Join(argocdDir, "argocd-cm.yaml")
		if *update {
			Expect(os.WriteFile(path, []byte(renderArgoCDConfigMap()), 0o644)).To(Succeed())
		}
		data, err := os.ReadFile(path)
		Expect(err).NotTo(HaveOccurred())
		var cm corev1.ConfigMap
		Expect(yaml.UnmarshalStrict(data, &cm)).To(Succeed())
		Expect(cm.APIVersion).To(Equal("v1"))
		Expect(cm.Kind).To(Equal("ConfigMap"))
		Expect(cm.Name).To(Equal("argocd-cm"))

		want := map[string]string{}
		for _, kind := range kinds {
			want[argoCDHealthKey(kind)] = healthScript(kind)
		}
		Expect(cm.Data).To(Equal(want),
			"argocd-cm.yaml is out of date: run go test ./test/gitops/ -args -update")
	})
})

// argoCDHealthKey is the argocd-cm key of a kind's health check.
func argoCDHealthKey(kind string) string {
	return "resource.customizations.health." + apiGroup + "_" + kind
}

// renderArgoCDConfigMap writes argocd-cm.yaml: each health.lua as a literal block scalar, whose
// value is the file's exact content (one final newline, kept by the default "clip" chomping).
func renderArgoCDConfigMap() string {
	var b strings.Builder
	b.WriteString(`# Argo CD health checks for connectivity-operator, for the argocd-cm ConfigMap (with the Helm chart:
# configs.cm). Merge the data keys into your argocd-cm; Argo CD picks them up without a restart.
# Generated from gitops/argocd/<kind>/health.lua: edit those, then run
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
	for _, kind := range kinds {
		b.WriteString("  " + argoCDHealthKey(kind) + ": |\n")
		for line := range strings.Lines(healthScript(kind)) {
			if strings.TrimSpace(line) == "" {
				b.WriteString("\n")
				continue
			}
			b.WriteString("    " + line)
		}
	}
	return b.String()
}

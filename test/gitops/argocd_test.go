package gitops_test

import (
	"flag"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite gitops/argocd/argocd-cm.yaml from gitops/argocd/health.lua")

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

// What the script says of an object without conditions: the wording depends on obj.kind.
const (
	waitingForService     = "Waiting for the operator to reconcile the service"
	waitingForTunnel      = "Waiting for the operator to create the tunnel"
	waitingForCredentials = "Waiting for the operator to verify the credentials"
	waitingForOtherKind   = "Waiting for the operator to reconcile the object"
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
	{"tunnel-not-ready", progressing, conditionMessage("Ready"), kstatus.InProgressStatus,
		"Reconciling/TunnelNotReady (tunnelRef without a tunnel id yet)"},
	{"ready", healthy, conditionMessage("Ready"), kstatus.CurrentStatus, "Ready, generation observed"},
	{"ready-generation-behind", progressing, behind(4, 3), kstatus.InProgressStatus,
		"Ready, but observedGeneration behind"},
	{"stalled-name-conflict", degraded, conditionMessage("Stalled"), kstatus.FailedStatus, "Stalled/NameConflict"},
	{"stalled-ownership-unknown", degraded, conditionMessage("Stalled"), kstatus.FailedStatus, "Stalled/OwnershipUnknown"},
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

// tunnelCases follow a CloudflareTunnel from its first reconcile (no tunnel, then a tunnel whose
// connector is not available or not healthy yet) to Connected, and through its deletion, which
// waits for the services that route through the tunnel.
var tunnelCases = []fixtureCase{
	{"no-status", progressing, literal(waitingForTunnel), kstatus.CurrentStatus, "no status yet"},
	{"no-conditions", progressing, literal(waitingForTunnel), kstatus.InProgressStatus,
		"observedGeneration -1, no conditions"},
	{"account-not-ready", progressing, conditionMessage("Ready"), kstatus.InProgressStatus, "Reconciling/AccountNotReady"},
	{"connector-unavailable", progressing, conditionMessage("Ready"), kstatus.InProgressStatus,
		"Reconciling/ConnectorUnavailable before the first Ready"},
	{"tunnel-degraded", progressing, conditionMessage("Ready"), kstatus.InProgressStatus, "Reconciling/TunnelDegraded"},
	{"connected", healthy, conditionMessage("Ready"), kstatus.CurrentStatus, "Ready/Connected, generation observed"},
	{"connected-generation-behind", progressing, behind(3, 2), kstatus.InProgressStatus,
		"Connected, but observedGeneration behind"},
	// The connector's pods went away after Ready: the generation is observed, the tunnel is not Ready.
	{"connector-unavailable-after-ready", progressing, conditionMessage("Ready"), kstatus.InProgressStatus,
		"Reconciling/ConnectorUnavailable at the observed generation"},
	{"rate-limited", progressing, conditionMessage("Ready"), kstatus.InProgressStatus, "Reconciling/RateLimited"},
	{"api-error", progressing, conditionMessage("Ready"), kstatus.InProgressStatus, "Reconciling/APIError"},
	{"stalled-name-conflict", degraded, conditionMessage("Stalled"), kstatus.FailedStatus, "Stalled/NameConflict"},
	{"stalled-invalid-spec", degraded, conditionMessage("Stalled"), kstatus.FailedStatus, "Stalled/InvalidSpec"},
	{"stalled-permission-denied", degraded, conditionMessage("Stalled"), kstatus.FailedStatus,
		"Stalled/PermissionDenied"},
	// kstatus reads Ready=False as InProgress; the operator always sets Stalled with a terminal reason.
	{"ready-false-name-conflict", degraded, conditionMessage("Ready"), kstatus.InProgressStatus,
		"Ready=False/NameConflict without Stalled"},
	{"stale-stall-after-spec-update", progressing, behind(3, 2), kstatus.InProgressStatus,
		"Stalled for an older generation"},
	{"tunnel-in-use", progressing, conditionMessage("Ready"), kstatus.TerminatingStatus,
		"Reconciling/TunnelInUse on delete"},
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

// fixtureTable lists the cases of every kind, all run through the one health.lua; the account
// cases apply to both account kinds.
var fixtureTable = []struct {
	kind  string
	cases []fixtureCase
}{
	{"ConnectivityService", serviceCases},
	{"CloudflareTunnel", tunnelCases},
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

			got, err := runHealthScript(healthScript(), obj.Object)
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

	It("ships argocd-cm.yaml with health.lua for every kind of the group", func() {
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

// renderArgoCDConfigMap writes argocd-cm.yaml: health.lua as a literal block scalar nested in the
// resource.customizations one, whose value is the file's exact content (one final newline, kept
// by the default "clip" chomping of both).
func renderArgoCDConfigMap() string {
	var b strings.Builder
	b.WriteString(`# Argo CD health check for connectivity-operator, for the argocd-cm ConfigMap (with the Helm chart:
# configs.cm). Merge the data key into your argocd-cm; Argo CD picks it up without a restart. If
# your argocd-cm already has a resource.customizations key, add the connectivity.workersvpc.dev/*
# entry to its value instead. The entry's wildcard gives every kind of the group the same script
# and needs Argo CD 2.6 or later (2.14 or later if other entries match the group too); for older
# versions, see gitops/README.md.
# Generated from gitops/argocd/health.lua: edit that, then run
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

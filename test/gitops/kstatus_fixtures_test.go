package gitops_test

import (
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// kstatusCase is what kstatus (Flux, kubectl wait) must make of one input of health_test.yaml,
// testdata/<lowercase kind>-<name>.yaml. health_test.yaml has what Argo CD must make of it; where
// the two differ, the comment says why.
type kstatusCase struct {
	name string
	want kstatus.Status
}

var serviceKstatus = []kstatusCase{
	// kstatus cannot tell a new object from one without conditions: see gitops/README.md.
	{"no-status", kstatus.CurrentStatus},
	{"no-conditions", kstatus.InProgressStatus},
	{"progressing", kstatus.InProgressStatus},
	{"account-not-ready", kstatus.InProgressStatus},
	{"rate-limited", kstatus.InProgressStatus},
	{"api-error", kstatus.InProgressStatus},
	{"credentials-not-found", kstatus.InProgressStatus},
	{"tunnel-not-ready", kstatus.InProgressStatus},
	{"ready", kstatus.CurrentStatus},
	{"ready-generation-behind", kstatus.InProgressStatus},
	{"stalled-name-conflict", kstatus.FailedStatus},
	{"stalled-ownership-unknown", kstatus.FailedStatus},
	// kstatus reads Ready=False as InProgress; the operator always sets Stalled with a terminal reason.
	{"ready-false-tunnel-not-found", kstatus.InProgressStatus},
	{"stale-stall-after-spec-update", kstatus.InProgressStatus},
	// kstatus reports any object with a deletionTimestamp as Terminating; Argo CD shows "Pending
	// deletion" without running the script, which still has an answer for other callers.
	{"deleting", kstatus.TerminatingStatus},
	{"stalled-credentials-not-found-on-delete", kstatus.TerminatingStatus},
}

// tunnelKstatus follows a CloudflareTunnel from its first reconcile (no tunnel, then a tunnel
// whose connector is not available or not healthy yet) to Connected, and through its deletion,
// which waits for the services that route through the tunnel.
var tunnelKstatus = []kstatusCase{
	{"no-status", kstatus.CurrentStatus},
	{"no-conditions", kstatus.InProgressStatus},
	{"account-not-ready", kstatus.InProgressStatus},
	{"connector-unavailable", kstatus.InProgressStatus},
	{"tunnel-degraded", kstatus.InProgressStatus},
	{"connected", kstatus.CurrentStatus},
	{"connected-generation-behind", kstatus.InProgressStatus},
	// The connector's pods went away after Ready: the generation is observed, the tunnel is not Ready.
	{"connector-unavailable-after-ready", kstatus.InProgressStatus},
	{"rate-limited", kstatus.InProgressStatus},
	{"api-error", kstatus.InProgressStatus},
	{"stalled-name-conflict", kstatus.FailedStatus},
	{"stalled-invalid-spec", kstatus.FailedStatus},
	{"stalled-permission-denied", kstatus.FailedStatus},
	// kstatus reads Ready=False as InProgress; the operator always sets Stalled with a terminal reason.
	{"ready-false-name-conflict", kstatus.InProgressStatus},
	{"stale-stall-after-spec-update", kstatus.InProgressStatus},
	{"tunnel-in-use", kstatus.TerminatingStatus},
	{"deleting", kstatus.TerminatingStatus},
	{"stalled-credentials-not-found-on-delete", kstatus.TerminatingStatus},
}

var accountKstatus = []kstatusCase{
	{"no-status", kstatus.CurrentStatus},
	{"secret-not-found", kstatus.InProgressStatus},
	{"rate-limited", kstatus.InProgressStatus},
	{"verified", kstatus.CurrentStatus},
	{"verified-generation-behind", kstatus.InProgressStatus},
	{"stalled-credentials-invalid", kstatus.FailedStatus},
	// kstatus reads Ready=False as InProgress; the operator always sets Stalled with a terminal reason.
	{"ready-false-permission-denied", kstatus.InProgressStatus},
}

// kstatusTable lists the cases of every kind; the account cases apply to both account kinds.
var kstatusTable = []struct {
	kind  string
	cases []kstatusCase
}{
	{"ConnectivityService", serviceKstatus},
	{"CloudflareTunnel", tunnelKstatus},
	{"CloudflareAccount", accountKstatus},
	{"ClusterCloudflareAccount", accountKstatus},
}

// kstatusInputPath is the inputPath of health_test.yaml that a kind's case reads.
func kstatusInputPath(kind string, c kstatusCase) string {
	return "testdata/" + strings.ToLower(kind) + "-" + c.name + ".yaml"
}

// kstatusInputs is every input the kstatus table covers.
func kstatusInputs() map[string]bool {
	inputs := map[string]bool{}
	for _, k := range kstatusTable {
		for _, c := range k.cases {
			inputs[kstatusInputPath(k.kind, c)] = true
		}
	}
	return inputs
}

// kstatusEntries makes one table entry per case, named by its inputPath.
func kstatusEntries() []TableEntry {
	var entries []TableEntry
	for _, k := range kstatusTable {
		for _, c := range k.cases {
			path := kstatusInputPath(k.kind, c)
			entries = append(entries, Entry(path, path, c.want))
		}
	}
	return entries
}

var _ = Describe("kstatus on the inputs of health_test.yaml", func() {
	DescribeTable("reads the operator's conditions as Flux and kubectl wait do",
		func(inputPath string, want kstatus.Status) {
			res, err := kstatus.Compute(loadFixture(inputPath))
			Expect(err).NotTo(HaveOccurred())
			Expect(res.Status).To(Equal(want), res.Message)
		},
		kstatusEntries(),
	)
})

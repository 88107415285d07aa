package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// TestParseWrites checks that only the write verbs are summed, by verb, resource and code.
func TestParseWrites(t *testing.T) {
	metrics := `# TYPE apiserver_request_total counter
apiserver_request_total{code="200",component="apiserver",dry_run="",group="connectivity.workersvpc.dev",` +
		`resource="connectivityservices",scope="resource",subresource="status",verb="PATCH",version="v1alpha1"} 7
apiserver_request_total{code="201",component="apiserver",dry_run="",group="coordination.k8s.io",` +
		`resource="leases",scope="resource",subresource="",verb="POST",version="v1"} 1.2e+06
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="cluster",` +
		`subresource="",verb="LIST",version="v1"} 3
`
	got, err := parseWrites(strings.NewReader(metrics))
	if err != nil {
		t.Fatal(err)
	}
	want := apiWrites{"PATCH connectivityservices/status 200": 7, "POST leases 201": 1200000}
	if len(got) != len(want) || got["PATCH connectivityservices/status 200"] != 7 || got["POST leases 201"] != 1200000 {
		t.Errorf("parseWrites = %v, want %v", got, want)
	}
	if d := got.since(apiWrites{"POST leases 201": 1200000}); d.total() != 7 {
		t.Errorf("since = %v, want the 7 status patches", d)
	}
}

// TestFirstReconciles checks that the first successful end of each object's reconcile is found,
// and that errors, other controllers and non-JSON lines are skipped.
func TestFirstReconciles(t *testing.T) {
	log := `I1202 06:42:13.7 klog line
{"ts":"2026-12-02T06:00:01.5Z","msg":"Reconciler error","controller":"connectivityservice","namespace":"a","name":"x"}
{"ts":"2026-12-02T06:00:02Z","msg":"Reconcile done, requeueing after 10m0s","controller":"connectivityservice",` +
		`"namespace":"a","name":"x"}
{"ts":"2026-12-02T06:00:03Z","msg":"Reconcile successful","controller":"connectivityservice","namespace":"a","name":"x"}
{"ts":"2026-12-02T06:00:04Z","msg":"Reconcile successful","controller":"cloudflareaccount","namespace":"a","name":"y"}
{"ts":"2026-12-02T06:00:05Z","msg":"Reconcile succ`
	path := filepath.Join(t.TempDir(), "manager.log")
	if err := os.WriteFile(path, []byte(log), 0o600); err != nil {
		t.Fatal(err)
	}
	lines, err := readManagerLog(path)
	if err != nil {
		t.Fatal(err)
	}
	got := firstReconciles(lines, serviceController)
	want := time.Date(2026, 12, 2, 6, 0, 2, 0, time.UTC)
	if len(got) != 1 || !got[types.NamespacedName{Namespace: "a", Name: "x"}].Equal(want) {
		t.Errorf("firstReconciles = %v, want a/x at %s", got, want)
	}
}

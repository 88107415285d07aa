package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
)

const (
	// metricsNamespace holds the objects this spec makes so that every series exists.
	metricsNamespace = "e2e-metrics"
	// metricsAccount is the CloudflareAccount of this spec, in metricsNamespace.
	metricsAccount = "metrics-account"
	// metricsTunnel is the CloudflareTunnel of this spec: tunnel_connections has a series per tunnel.
	metricsTunnel = "metrics-edge"
	// rulesFile and dashboardFile are what the chart ships, relative to the repository.
	rulesFile     = "dist/chart/files/prometheus-rules.yaml"
	dashboardFile = "dist/chart/files/grafana-dashboard.json"
)

// metricName matches the names of the metrics the operator's manager exports: its own and
// controller-runtime's. Label values (controller names) and PromQL functions never match.
var metricName = regexp.MustCompile(`\b(?:connectivity_operator|controller_runtime|workqueue)_[a-zA-Z0-9_]*[a-zA-Z0-9]`)

// The chart's alerts and dashboard are only as good as the metric names they spell: a renamed or
// missing metric leaves an alert silent forever. This spec reads every name out of the rule file's
// expressions and the dashboard's queries and finds each in a scrape of the real manager.
var _ = Describe("the metrics that the chart's alerts and dashboard read", Ordered, func() {
	BeforeAll(func(ctx SpecContext) {
		By("making an account (API calls) and a tunnel (a tunnel_connections series) in " + metricsNamespace)
		Expect(createNamespace(ctx, metricsNamespace)).To(Succeed())
		Expect(createTokenSecret(ctx, metricsNamespace, credentialsSecret, teamToken)).To(Succeed())
		_, err := kubectlWithInput(ctx, metricsObjects(), "apply", "-f", "-")
		Expect(err).NotTo(HaveOccurred())
		_, err = kubectl(ctx, "wait", "--for=condition=Ready", "-n", metricsNamespace,
			"cloudflareaccount/"+metricsAccount, "--timeout=60s")
		Expect(err).NotTo(HaveOccurred())
		Eventually(ctx, func(g Gomega) string {
			var tunnel v1alpha1.CloudflareTunnel
			g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: metricsNamespace, Name: metricsTunnel}, &tunnel)).To(Succeed())
			return tunnel.Status.TunnelID
		}).WithTimeout(time.Minute).ShouldNot(BeEmpty(), "status.tunnelID of the tunnel")
	}, NodeTimeout(3*time.Minute))

	AfterAll(func(ctx SpecContext) {
		By("deleting the tunnel and the account")
		_, err := kubectl(ctx, "delete", "-n", metricsNamespace, "cloudflaretunnel", metricsTunnel, "--timeout=2m")
		Expect(err).NotTo(HaveOccurred())
		_, err = kubectl(ctx, "delete", "-n", metricsNamespace, "cloudflareaccount", metricsAccount, "--timeout=1m")
		Expect(err).NotTo(HaveOccurred())
		expectNoRBACDenials()
	}, NodeTimeout(4*time.Minute))

	It("exports every metric the alerts and the dashboard name", func(ctx SpecContext) {
		names, err := referencedMetrics(filepath.Join(paths.root, rulesFile), filepath.Join(paths.root, dashboardFile))
		Expect(err).NotTo(HaveOccurred())
		_, _ = fmt.Fprintf(GinkgoWriter, "metrics named by the alerts and the dashboard: %v\n", names)
		// The parsing finds what it must, so an empty or broken extraction cannot pass.
		Expect(names).To(ContainElements(
			"connectivity_operator_services", "connectivity_operator_cloudflare_api_requests_total",
			"connectivity_operator_cloudflare_ratelimit_budget_requests_per_5m",
			"controller_runtime_reconcile_errors_total",
			"connectivity_operator_cloudflare_api_request_duration_seconds_bucket"))

		token := metricsReaderToken(ctx)
		url := fmt.Sprintf("https://127.0.0.1:%d/metrics", manager.metricsPort)
		Eventually(ctx, func(g Gomega) {
			resp, err := getMetrics(ctx, url, token)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(resp.Status).To(Equal(http.StatusOK))
			exported := exportedMetrics(resp.Body)
			var missing []string
			for _, name := range names {
				if !exported[name] {
					missing = append(missing, name)
				}
			}
			g.Expect(missing).To(BeEmpty(), "named by %s or %s but not exported by the manager", rulesFile, dashboardFile)
		}).WithTimeout(time.Minute).WithPolling(2 * time.Second).Should(Succeed())
	}, SpecTimeout(2*time.Minute))
})

// metricsReaderToken returns a token of a ServiceAccount bound to the shipped metrics reader role.
func metricsReaderToken(ctx SpecContext) string {
	GinkgoHelper()
	Expect(operator.metricsReader).NotTo(BeEmpty(), "the manifests have no ClusterRole for GET /metrics")
	_, err := kubectl(ctx, "create", "serviceaccount", "e2e-metrics-alerts", "-n", metricsNamespace)
	Expect(err).NotTo(HaveOccurred())
	_, err = kubectl(ctx, "create", "clusterrolebinding", "e2e-metrics-alerts",
		"--clusterrole="+operator.metricsReader, "--serviceaccount="+metricsNamespace+":e2e-metrics-alerts")
	Expect(err).NotTo(HaveOccurred())
	token, err := kubectl(ctx, "create", "token", "e2e-metrics-alerts", "-n", metricsNamespace)
	Expect(err).NotTo(HaveOccurred())
	return token
}

// referencedMetrics returns, sorted, the metric names in the rule file's expressions and in the
// dashboard's queries (panel targets and template variables).
func referencedMetrics(rulesPath, dashboardPath string) ([]string, error) {
	var exprs []string
	data, err := os.ReadFile(rulesPath)
	if err != nil {
		return nil, err
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Expr string `json:"expr"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := yaml.Unmarshal(data, &rules); err != nil {
		return nil, fmt.Errorf("%s: %w", rulesPath, err)
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, r.Expr)
		}
	}
	if data, err = os.ReadFile(dashboardPath); err != nil {
		return nil, err
	}
	var dashboard any
	if err := json.Unmarshal(data, &dashboard); err != nil {
		return nil, fmt.Errorf("%s: %w", dashboardPath, err)
	}
	exprs = append(exprs, queries(dashboard)...)
	var names []string
	for _, e := range exprs {
		names = append(names, metricName.FindAllString(e, -1)...)
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// queries collects the PromQL of a Grafana dashboard: every "expr", "query" and "definition"
// string, at any depth.
func queries(node any) []string {
	var out []string
	switch n := node.(type) {
	case map[string]any:
		for k, v := range n {
			if s, ok := v.(string); ok && (k == "expr" || k == "query" || k == "definition") {
				out = append(out, s)
				continue
			}
			out = append(out, queries(v)...)
		}
	case []any:
		for _, v := range n {
			out = append(out, queries(v)...)
		}
	}
	return out
}

// exportedMetrics returns the sample names of a scrape in Prometheus's text format; a histogram
// appears as its _bucket, _sum and _count series.
func exportedMetrics(body string) map[string]bool {
	out := map[string]bool{}
	for line := range strings.SplitSeq(body, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			out[line[:i]] = true
		}
	}
	return out
}

// metricsObjects is this spec's CloudflareAccount and a CloudflareTunnel that uses it.
func metricsObjects() string {
	return fmt.Sprintf(`apiVersion: connectivity.workersvpc.dev/v1alpha1
kind: CloudflareAccount
metadata:
  name: %[1]s
  namespace: %[2]s
spec:
  accountID: %[3]s
  secretRef:
    name: %[4]s
---
apiVersion: connectivity.workersvpc.dev/v1alpha1
kind: CloudflareTunnel
metadata:
  name: %[5]s
  namespace: %[2]s
spec:
  accountRef:
    kind: CloudflareAccount
    name: %[1]s
  connector:
    replicas: 1
`, metricsAccount, metricsNamespace, sampleAccountID, credentialsSecret, metricsTunnel)
}

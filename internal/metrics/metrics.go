// Package metrics defines the operator's Prometheus metrics, served on the manager's metrics
// endpoint. Labels are Cloudflare account ids and API routes, never anything secret.
package metrics

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
)

const (
	namespace = "connectivity_operator"
	// labelAccount is the Cloudflare account id: the one label every API metric has.
	labelAccount = "account"
)

var (
	apiCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "cloudflare_api_requests_total",
		Help: "Cloudflare API calls by account, method, route and HTTP status code (0: no response).",
	}, []string{labelAccount, "method", "route", "code"})
	apiLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "cloudflare_api_request_duration_seconds",
		Help:    "Latency of Cloudflare API calls by account and route.",
		Buckets: prometheus.ExponentialBuckets(0.01, 2, 12),
	}, []string{labelAccount, "route"})
	limiterWait = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "cloudflare_ratelimit_wait_seconds",
		Help:    "Time calls spent waiting for the credential's API budget.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
	}, []string{labelAccount})
	rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "cloudflare_api_rate_limited_total",
		Help: "429 answers from Cloudflare, each of which opened the credential's circuit breaker.",
	}, []string{labelAccount})
	driftCorrections = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "drift_corrections_total",
		Help: "Cloudflare services restored to their spec after a change made outside the operator.",
	}, []string{labelAccount})
	observationFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "observation_failures_total",
		Help: "Looks at Ready services that failed (a failed list or get); Ready stays as last observed.",
	}, []string{labelAccount})
	reconcileErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "reconcile_errors_total",
		Help: "Failed ConnectivityService reconciles by condition reason.",
	}, []string{"reason"})
	budget = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "cloudflare_ratelimit_budget_requests_per_5m",
		Help: "Calls per 5 minutes the operator allows itself with the account's credential " +
			"(--cloudflare-requests-per-5m or spec.rateLimit); compare with the rate of cloudflare_api_requests_total.",
	}, []string{labelAccount})
)

// retryReasons are the reconcile error reasons that are not Stalled conditions; their series
// exist from the start at zero, so rate() sees the first error and dashboards show a flat line.
var retryReasons = []string{v1alpha1.ReasonAPIError, v1alpha1.ReasonRateLimited}

// API records Cloudflare API calls; it implements ratelimit.Observer.
type API struct{}

// Waited records time spent waiting for the budget.
func (API) Waited(accountID string, d time.Duration) {
	limiterWait.WithLabelValues(accountID).Observe(d.Seconds())
}

// Called records one API call.
func (API) Called(accountID, method, route string, status int, d time.Duration) {
	apiCalls.WithLabelValues(accountID, method, route, strconv.Itoa(status)).Inc()
	apiLatency.WithLabelValues(accountID, route).Observe(d.Seconds())
}

// Tripped records a 429.
func (API) Tripped(accountID string) { rateLimited.WithLabelValues(accountID).Inc() }

// Budget records the account's budget before each call. It also creates the account's counters
// at zero, so an alert's increase() counts the first 429, drift correction or failed observation,
// which a series born at 1 would hide.
func (API) Budget(accountID string, perWindow int) {
	budget.WithLabelValues(accountID).Set(float64(perWindow))
	rateLimited.WithLabelValues(accountID)
	driftCorrections.WithLabelValues(accountID)
	observationFailures.WithLabelValues(accountID)
}

// DriftCorrected records a corrected out-of-band change.
func DriftCorrected(accountID string) { driftCorrections.WithLabelValues(accountID).Inc() }

// ObservationFailed records a failed look at a Ready service, which leaves it Ready.
func ObservationFailed(accountID string) { observationFailures.WithLabelValues(accountID).Inc() }

// ReconcileError records a failed reconcile under its condition reason.
func ReconcileError(reason string) { reconcileErrors.WithLabelValues(reason).Inc() }

var (
	registerOnce sync.Once
	sourcesMu    sync.Mutex
	services     client.Reader
	openCircuits func() int
)

// Register adds the metrics, and the collectors that count open circuit breakers and services by
// condition, to controller-runtime's registry. The collectors read from reader and circuits; a
// second call (a restarted manager in tests) only points them at the new sources.
func Register(reader client.Reader, circuits func() int) {
	sourcesMu.Lock()
	services, openCircuits = reader, circuits
	sourcesMu.Unlock()
	registerOnce.Do(func() {
		for _, reason := range retryReasons {
			reconcileErrors.WithLabelValues(reason)
		}
		ctrlmetrics.Registry.MustRegister(apiCalls, apiLatency, limiterWait, rateLimited, driftCorrections, observationFailures, reconcileErrors, budget,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Namespace: namespace, Name: "cloudflare_circuit_breakers_open",
				Help: "Credentials whose calls are held after a 429 until Retry-After passes.",
			}, func() float64 {
				sourcesMu.Lock()
				defer sourcesMu.Unlock()
				return float64(openCircuits())
			}),
			conditionCollector{})
	})
}

// conditionCollector counts ConnectivityServices and CloudflareTunnels by condition, and the
// tunnels' connections, when scraped, from the cache.
type conditionCollector struct{}

var servicesDesc = prometheus.NewDesc(namespace+"_services",
	"ConnectivityServices whose condition (Ready, Stalled, Reconciling) is True.", []string{"condition"}, nil)

var (
	tunnelsDesc = prometheus.NewDesc(namespace+"_tunnels",
		"CloudflareTunnels whose condition (Ready, Stalled, Reconciling) is True.", []string{"condition"}, nil)
	tunnelConnectionsDesc = prometheus.NewDesc(namespace+"_tunnel_connections",
		"Active connections between a CloudflareTunnel's connector and Cloudflare's edge, as the API last reported.",
		[]string{"namespace", "name"}, nil)
)

// conditionKinds are the conditions the collectors count.
var conditionKinds = []string{v1alpha1.ConditionReady, v1alpha1.ConditionStalled, v1alpha1.ConditionReconciling}

// Describe implements prometheus.Collector.
func (conditionCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- servicesDesc
	ch <- tunnelsDesc
	ch <- tunnelConnectionsDesc
}

// Collect implements prometheus.Collector.
func (conditionCollector) Collect(ch chan<- prometheus.Metric) {
	sourcesMu.Lock()
	reader := services
	sourcesMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var list v1alpha1.ConnectivityServiceList
	if err := reader.List(ctx, &list); err == nil {
		conds := make([][]metav1.Condition, 0, len(list.Items))
		for i := range list.Items {
			conds = append(conds, list.Items[i].Status.Conditions)
		}
		countConditions(ch, servicesDesc, conds)
	}
	var tunnels v1alpha1.CloudflareTunnelList
	if err := reader.List(ctx, &tunnels); err == nil {
		conds := make([][]metav1.Condition, 0, len(tunnels.Items))
		for i := range tunnels.Items {
			t := &tunnels.Items[i]
			conds = append(conds, t.Status.Conditions)
			ch <- prometheus.MustNewConstMetric(tunnelConnectionsDesc, prometheus.GaugeValue, float64(t.Status.Connections), t.Namespace, t.Name)
		}
		countConditions(ch, tunnelsDesc, conds)
	}
}

// countConditions sends, for each condition kind, how many of the objects have it True.
func countConditions(ch chan<- prometheus.Metric, desc *prometheus.Desc, objects [][]metav1.Condition) {
	for _, cond := range conditionKinds {
		n := 0
		for _, conds := range objects {
			if meta.IsStatusConditionTrue(conds, cond) {
				n++
			}
		}
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(n), cond)
	}
}

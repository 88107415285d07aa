package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
)

// TestBudgetRecordsTheLimitAndCreatesZeroSeries checks what the budget alert divides by, and that
// an account's counters exist at zero from its first call: a counter series born at 1 would hide
// the first 429 or drift correction from increase().
func TestBudgetRecordsTheLimitAndCreatesZeroSeries(t *testing.T) {
	const account = "0123456789abcdef0123456789abcdef"
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(rateLimited, driftCorrections, observationFailures, budget)
	key := func(name string) string { return name + "," + labelAccount + "=" + account }
	before := gather(t, reg)
	for _, name := range []string{
		"connectivity_operator_cloudflare_api_rate_limited_total",
		"connectivity_operator_cloudflare_ratelimit_budget_requests_per_5m",
	} {
		if _, ok := before[key(name)]; ok {
			t.Fatalf("%s has a series of account %s before its first call", name, account)
		}
	}

	API{}.Budget(account, 600)
	if got := gather(t, reg)[key("connectivity_operator_cloudflare_ratelimit_budget_requests_per_5m")]; got != 600 {
		t.Errorf("budget gauge = %v, want 600", got)
	}
	API{}.Budget(account, 1000)
	got := gather(t, reg)
	if v := got[key("connectivity_operator_cloudflare_ratelimit_budget_requests_per_5m")]; v != 1000 {
		t.Errorf("budget gauge after a change = %v, want 1000", v)
	}
	for _, name := range []string{
		"connectivity_operator_cloudflare_api_rate_limited_total",
		"connectivity_operator_drift_corrections_total",
		"connectivity_operator_observation_failures_total",
	} {
		if v, ok := got[key(name)]; !ok || v != 0 {
			t.Errorf("%s{account=%q} = %v (present: %v), want a series at 0", name, account, v, ok)
		}
	}
}

// TestRegisterExportsWhatAlertsRead checks that, before anything happened, the registry holds the
// series the alerts and the dashboard read: the retried reconcile error reasons at zero, the open
// circuit breakers and the services and tunnels by condition.
func TestRegisterExportsWhatAlertsRead(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	Register(fake.NewClientBuilder().WithScheme(scheme).Build(), func() int { return 2 })
	got := gather(t, ctrlmetrics.Registry)
	want := map[string]float64{
		"connectivity_operator_reconcile_errors_total,reason=" + v1alpha1.ReasonAPIError:    0,
		"connectivity_operator_reconcile_errors_total,reason=" + v1alpha1.ReasonRateLimited: 0,
		"connectivity_operator_cloudflare_circuit_breakers_open":                            2,
		"connectivity_operator_services,condition=" + v1alpha1.ConditionStalled:             0,
		"connectivity_operator_tunnels,condition=" + v1alpha1.ConditionStalled:              0,
	}
	for key, value := range want {
		if v, ok := got[key]; !ok || v != value {
			t.Errorf("series %s = %v (present: %v) after Register, want %v", key, v, ok, value)
		}
	}
}

// gather returns the value of every counter and gauge series of g, keyed by its name and its
// label pairs ("name,label=value").
func gather(t *testing.T, g prometheus.Gatherer) map[string]float64 {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			out[key] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return out
}

// Command manager runs the connectivity-operator controllers: it keeps Cloudflare Workers VPC
// connectivity services in step with ConnectivityService objects.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	// Import all Kubernetes client auth plugins (e.g. Azure, GCP, OIDC, etc.)
	// to ensure that exec-entrypoint and run can make use of them.
	_ "k8s.io/client-go/plugin/pkg/client/auth"

	// The image from `make image` has no base image and so no CA certificates: with no system roots
	// the manager trusts the bundled Mozilla roots for the Cloudflare API (HTTPS).
	_ "golang.org/x/crypto/x509roots/fallback"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/metadata"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	"github.com/workersvpc/connectivity-operator/internal/account"
	"github.com/workersvpc/connectivity-operator/internal/cloudflare"
	"github.com/workersvpc/connectivity-operator/internal/controller"
	"github.com/workersvpc/connectivity-operator/internal/metrics"
	"github.com/workersvpc/connectivity-operator/internal/ratelimit"
	"github.com/workersvpc/connectivity-operator/internal/secretwatch"
)

var (
	scheme   = runtime.NewScheme()
	setupLog = ctrl.Log.WithName("setup")
)

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(v1alpha1.AddToScheme(scheme))
}

// serviceAccountNamespaceFile holds the pod's namespace when running in a cluster.
const serviceAccountNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// options are the manager's command-line flags.
type options struct {
	metricsAddr, probeAddr   string
	secureMetrics, http2     bool
	leaderElect              bool
	apiURL                   string
	apiTimeout               time.Duration
	clusterResourceNamespace string
	resyncInterval           time.Duration
	verifyInterval           time.Duration
	workers                  int
	shutdownTimeout          time.Duration
	clusterDomain            string
	tunnelHealthPoll         time.Duration
	clusterDNSIPs            []string
	requestsPer5m, burst     int
}

func parseFlags() (options, zap.Options) {
	var o options
	flag.StringVar(&o.metricsAddr, "metrics-bind-address", "0",
		"The address the metrics endpoint binds to: :8443 for HTTPS, :8080 for HTTP, 0 to disable it.")
	flag.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "The address the probe endpoint binds to.")
	flag.BoolVar(&o.leaderElect, "leader-elect", false,
		"Enable leader election, so that only one of several replicas reconciles at a time.")
	flag.BoolVar(&o.secureMetrics, "metrics-secure", true,
		"Serve metrics over HTTPS behind Kubernetes authentication and authorization; false serves plain HTTP.")
	flag.BoolVar(&o.http2, "enable-http2", false,
		"Enable HTTP/2 for the metrics server (off because of the HTTP/2 rapid reset CVEs).")
	flag.StringVar(&o.apiURL, "cloudflare-api-url", envOr("CLOUDFLARE_API_URL", cloudflare.ProductionBaseURL),
		"Base URL of the Cloudflare API (env CLOUDFLARE_API_URL).")
	flag.DurationVar(&o.apiTimeout, "cloudflare-api-timeout", 30*time.Second, "Timeout of one Cloudflare API call.")
	flag.StringVar(&o.clusterResourceNamespace, "cluster-resource-namespace", defaultNamespace(),
		"Namespace of the Secrets of ClusterCloudflareAccounts whose secretRef names no namespace, "+
			"and of the leader election and name reservation Leases (default: the pod's namespace).")
	flag.DurationVar(&o.resyncInterval, "resync-interval", controller.DefaultResyncInterval,
		"How often a Ready service is compared with Cloudflare (one list call per account per interval).")
	flag.DurationVar(&o.verifyInterval, "account-verify-interval", controller.DefaultAccountVerifyInterval,
		"How often Ready account credentials are verified again.")
	flag.IntVar(&o.workers, "max-concurrent-reconciles", 4, "Number of ConnectivityService reconcile workers.")
	flag.IntVar(&o.requestsPer5m, "cloudflare-requests-per-5m", 1000,
		"API calls per 5 minutes per credential (Cloudflare allows 1,200 for all clients of a token); "+
			"an account's spec.rateLimit overrides it.")
	flag.IntVar(&o.burst, "cloudflare-burst", 20, "API calls a credential may make at once after a quiet period.")
	flag.DurationVar(&o.shutdownTimeout, "graceful-shutdown-timeout", 20*time.Second,
		"How long in-flight reconciles get to finish on shutdown; keep it below the pod's termination grace period.")
	flag.DurationVar(&o.tunnelHealthPoll, "tunnel-health-poll", controller.DefaultTunnelHealthPoll,
		"How often a CloudflareTunnel that Cloudflare does not report healthy yet is looked at again (one GET).")
	flag.StringVar(&o.clusterDomain, "cluster-domain", "cluster.local",
		"The cluster's DNS domain: a serviceRef host is sent as <service>.<namespace>.svc.<cluster-domain>.")
	flag.Func("cluster-dns-ip", "An address of the cluster's DNS, sent as a serviceRef host's resolver "+
		"(repeat for dual stack; default: the ClusterIPs of kube-system/kube-dns).", func(v string) error {
		if net.ParseIP(v) == nil {
			return fmt.Errorf("%q is not an IP address", v)
		}
		o.clusterDNSIPs = append(o.clusterDNSIPs, v)
		return nil
	})
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	return o, zapOpts
}

func main() {
	opts, zapOpts := parseFlags()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	if err := run(opts); err != nil {
		setupLog.Error(err, "Manager stopped with an error")
		os.Exit(1)
	}
}

func run(o options) error {
	cfg := ctrl.GetConfigOrDie()
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsOptions(o),
		HealthProbeBindAddress: o.probeAddr,
		LeaderElection:         o.leaderElect,
		LeaderElectionID:       "connectivity-operator.workersvpc.dev",
		// The lease lives beside the operator; set explicitly so a manager outside a pod works too.
		LeaderElectionNamespace: o.clusterResourceNamespace,
		GracefulShutdownTimeout: &o.shutdownTimeout,
		// Secrets are read one at a time, uncached: never an informer over every Secret.
		Client: client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}},
		// The connector objects are cached only when the operator made them.
		Cache: cache.Options{ByObject: controller.CacheByObject()},
	})
	if err != nil {
		return err
	}
	metaClient, err := metadata.NewForConfig(cfg)
	if err != nil {
		return err
	}
	limits := ratelimit.NewRegistry(o.requestsPer5m, o.burst)
	metrics.Register(mgr.GetClient(), limits.OpenCircuits)
	secrets := secretwatch.New(metaClient)
	if err := mgr.Add(secrets); err != nil {
		return err
	}
	err = controller.Setup(mgr, controller.Config{
		Accounts: &account.Resolver{
			Client:                   mgr.GetClient(),
			SecretReader:             mgr.GetAPIReader(),
			ClusterResourceNamespace: o.clusterResourceNamespace,
		},
		ClientFor: controller.NewClientFor(controller.ClientOptions{
			BaseURL: o.apiURL, Timeout: o.apiTimeout, Limits: limits, Observer: metrics.API{},
		}),
		ResyncInterval:          o.resyncInterval,
		AccountVerifyInterval:   o.verifyInterval,
		MaxConcurrentReconciles: o.workers,
		Secrets:                 secrets,
		// Name reservations live beside the leader election Lease, in the operator's namespace.
		ReservationNamespace: o.clusterResourceNamespace,
		DNS:                  controller.ClusterDNS{Domain: o.clusterDomain, ResolverIPs: o.clusterDNSIPs},
		TunnelHealthPoll:     o.tunnelHealthPoll,
	})
	if err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	setupLog.Info("Starting manager", "cloudflareAPI", o.apiURL, "resyncInterval", o.resyncInterval)
	return mgr.Start(ctrl.SetupSignalHandler())
}

// metricsOptions serves metrics over HTTPS behind authentication and authorization by default.
func metricsOptions(o options) metricsserver.Options {
	var tlsOpts []func(*tls.Config)
	if !o.http2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	opts := metricsserver.Options{BindAddress: o.metricsAddr, SecureServing: o.secureMetrics, TLSOpts: tlsOpts}
	if o.secureMetrics {
		opts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	return opts
}

func envOr(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}

// defaultNamespace is the pod's own namespace when running in a cluster.
func defaultNamespace() string {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	if b, err := os.ReadFile(serviceAccountNamespaceFile); err == nil {
		return strings.TrimSpace(string(b))
	}
	return "connectivity-operator-system"
}

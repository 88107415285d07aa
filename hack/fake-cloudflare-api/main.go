// Command fake-cloudflare-api runs the fake Cloudflare Workers VPC connectivity API as a process,
// for the local demo and for end-to-end tests that drive a deployed operator. The same handler
// serves the unit and envtest suites in-process; see internal/cloudflare/cloudflaretest.
//
// Usage:
//
//	FAKE_CLOUDFLARE_TOKEN=secret fake-cloudflare-api --account 023e105f4ecef8ad9ca31a8372d0c353 \
//	    --tunnel 0191dce4-9ab4-7fce-b660-8e5dec5172da
//
// Admin endpoints (no credentials) under /_fake/ expose state, counts and fault injection.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/workersvpc/connectivity-operator/internal/cloudflare/cloudflaretest"
)

// listFlag is a flag that may repeat and takes comma-separated lists.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for item := range strings.SplitSeq(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			*l = append(*l, item)
		}
	}
	return nil
}

// config is the parsed command line.
type config struct {
	listen            string
	accounts, tunnels listFlag
	tokens            listFlag
	email, key        string
	budget            int
	budgetWindow      time.Duration
	budgetBlock       time.Duration
	latency           time.Duration
	logRequests       bool
	shutdownTimeout   time.Duration
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fake-cloudflare-api:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return err
	}
	var handler http.Handler = newFake(cfg)
	if cfg.logRequests {
		handler = logRequests(handler)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("fake Cloudflare API listening on http://%s/client/v4\n", ln.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// parseFlags reads the command line and FAKE_CLOUDFLARE_TOKEN, which keeps the token out of ps.
func parseFlags(args []string) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("fake-cloudflare-api", flag.ContinueOnError)
	fs.StringVar(&cfg.listen, "listen", "127.0.0.1:8787", "address to listen on (port 0 picks a free one)")
	fs.Var(&cfg.accounts, "account", "account id (repeatable or comma-separated)")
	fs.Var(&cfg.tokens, "token", "accepted API token (repeatable); also read from $FAKE_CLOUDFLARE_TOKEN")
	fs.StringVar(&cfg.email, "email", "", "legacy X-Auth-Email (with --key)")
	fs.StringVar(&cfg.key, "key", "", "legacy X-Auth-Key (with --email)")
	fs.Var(&cfg.tunnels, "tunnel", "tunnel id known to every account (repeatable or comma-separated)")
	fs.IntVar(&cfg.budget, "budget", 0, "calls per credential per --budget-window; 0 disables (the live API allows 1200 per 5m)")
	fs.DurationVar(&cfg.budgetWindow, "budget-window", 5*time.Minute, "sliding window of the budget")
	fs.DurationVar(&cfg.budgetBlock, "budget-block", 5*time.Minute, "how long a credential is blocked after going over")
	fs.DurationVar(&cfg.latency, "latency", 0, "latency added to every call")
	fs.BoolVar(&cfg.logRequests, "log-requests", true, "log every call (method, path, status) to stderr")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 5*time.Second, "grace period for in-flight calls on SIGINT/SIGTERM")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if env := os.Getenv("FAKE_CLOUDFLARE_TOKEN"); env != "" {
		_ = cfg.tokens.Set(env)
	}
	switch {
	case len(cfg.accounts) == 0:
		return config{}, errors.New("at least one --account is required")
	case (cfg.email == "") != (cfg.key == ""):
		return config{}, errors.New("--email and --key go together")
	case len(cfg.tokens) == 0 && cfg.key == "":
		return config{}, errors.New("no credential: give --token, $FAKE_CLOUDFLARE_TOKEN, or --email and --key")
	}
	return cfg, nil
}

// newFake builds the fake: every credential may use every account, every tunnel is known to
// every account.
func newFake(cfg config) *cloudflaretest.Server {
	s := cloudflaretest.NewServer()
	for _, account := range cfg.accounts {
		s.AddAccount(account)
		for _, tunnel := range cfg.tunnels {
			s.AddTunnel(account, tunnel)
		}
	}
	for _, token := range cfg.tokens {
		s.AddCredential(cloudflaretest.Credential{Token: token, Accounts: cfg.accounts})
	}
	if cfg.key != "" {
		s.AddCredential(cloudflaretest.Credential{Email: cfg.email, Key: cfg.key, Accounts: cfg.accounts})
	}
	s.SetBudget(cfg.budget, cfg.budgetWindow, cfg.budgetBlock)
	s.SetLatency(cfg.latency)
	return s
}

// statusRecorder remembers the status a handler wrote, for the request log line.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

// logRequests logs method, path and status of every call; headers, and so credentials, never.
func logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		next.ServeHTTP(rec, r)
		log.Printf("%s %s %d %s cf-ray=%s", r.Method, r.URL.Path, rec.status,
			time.Since(start).Round(time.Millisecond), rec.Header().Get("CF-Ray"))
	})
}

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	cffake "github.com/workersvpc/connectivity-operator/internal/cloudflare/cloudflaretest"
)

// fakeAPI is bin/fake-cloudflare-api running as a process.
type fakeAPI struct {
	proc *process
	// base is http://host:port; the API is under /client/v4, the admin endpoints under /_fake/.
	base string
	http *http.Client
}

var listeningLine = regexp.MustCompile(`listening on (http://[^ /]+)/client/v4`)

// startFakeAPI starts the fake on a free port with the accounts, tunnels and tokens (passed in
// $FAKE_CLOUDFLARE_TOKEN, not on the command line) and a budget like the live API's, and reads
// its address from the line it prints.
func startFakeAPI(ctx context.Context, accounts, tunnels, tokens []string) (*fakeAPI, error) {
	logPath := filepath.Join(paths.artifacts, "fake-cloudflare-api.log")
	p, err := startProcess("fake-cloudflare-api", logPath,
		[]string{"FAKE_CLOUDFLARE_TOKEN=" + strings.Join(tokens, ",")}, paths.fakeAPI,
		"--listen", "127.0.0.1:0", "--account", strings.Join(accounts, ","),
		"--tunnel", strings.Join(tunnels, ","), "--budget", "1200", "--budget-window", "5m")
	if err != nil {
		return nil, err
	}
	f := &fakeAPI{proc: p, http: &http.Client{Timeout: 10 * time.Second}}
	waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err = waitFor(waitCtx, 50*time.Millisecond, func() (bool, error) {
		if !p.running() {
			return false, p.errExited()
		}
		out, _ := os.ReadFile(logPath)
		if m := listeningLine.FindSubmatch(out); m != nil {
			f.base = string(m[1])
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		p.kill()
		return nil, fmt.Errorf("fake Cloudflare API did not start: %w", err)
	}
	return f, nil
}

// apiURL is the manager's --cloudflare-api-url.
func (f *fakeAPI) apiURL() string {
	return f.base + "/client/v4"
}

func (f *fakeAPI) getJSON(path string, into any) error {
	resp, err := f.http.Get(f.base + path)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(into)
}

// services returns the account's services, as the fake holds them.
func (f *fakeAPI) services(account string) ([]cffake.Service, error) {
	var out []cffake.Service
	err := f.getJSON("/_fake/services?account="+account, &out)
	return out, err
}

// servicesByName indexes the account's services by name; a name held twice is an error.
func (f *fakeAPI) servicesByName(account string) (map[string]cffake.Service, error) {
	list, err := f.services(account)
	if err != nil {
		return nil, err
	}
	byName := make(map[string]cffake.Service, len(list))
	for _, s := range list {
		if other, dup := byName[s.Name]; dup {
			return nil, fmt.Errorf("two services named %q: %s and %s", s.Name, other.ID, s.ID)
		}
		byName[s.Name] = s
	}
	return byName, nil
}

// requests returns the fake's request log (every API call, in arrival order).
func (f *fakeAPI) requests() ([]cffake.Request, error) {
	var out []cffake.Request
	err := f.getJSON("/_fake/requests", &out)
	return out, err
}

// mark is a position in the request log: calls after it are what a step caused.
func (f *fakeAPI) mark() (int, error) {
	log, err := f.requests()
	return len(log), err
}

// callCount is a number of calls: all of them, and those that succeeded.
type callCount struct {
	all, ok2xx int
}

// callsSince counts the calls of a route in the account after the mark.
func (f *fakeAPI) callsSince(mark int, account string, route cffake.Route) (callCount, error) {
	log, err := f.requests()
	if err != nil {
		return callCount{}, err
	}
	var c callCount
	for _, r := range log[min(mark, len(log)):] {
		if r.Route == route && r.AccountID == account {
			c.all++
			if r.Status >= 200 && r.Status < 300 {
				c.ok2xx++
			}
		}
	}
	return c, nil
}

// statusCounts counts every call in the log by HTTP status, for the "no 429" check and reports.
func (f *fakeAPI) statusCounts() (map[int]int, error) {
	log, err := f.requests()
	if err != nil {
		return nil, err
	}
	counts := map[int]int{}
	for _, r := range log {
		counts[r.Status]++
	}
	return counts, nil
}

// failNext queues a fault for the next n calls of route (in any account).
func (f *fakeAPI) failNext(route cffake.Route, n int, fault cffake.AdminFault) error {
	body, err := json.Marshal(cffake.FaultRequest{Route: route, N: n, Fault: fault})
	if err != nil {
		return err
	}
	return f.post("/_fake/faults", body)
}

// clearFaults drops every fault still queued.
func (f *fakeAPI) clearFaults() error {
	return f.post("/_fake/clear-faults", nil)
}

func (f *fakeAPI) post(path string, body []byte) error {
	resp, err := f.http.Post(f.base+path, "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusNoContent {
		msg, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("POST %s: %s: %s", path, resp.Status, msg)
	}
	return nil
}

// tunnels returns the account's tunnels as the fake holds them, deleted ones included.
func (f *fakeAPI) tunnels(account string) ([]cffake.Tunnel, error) {
	var out []cffake.Tunnel
	err := f.getJSON("/_fake/tunnels?account="+url.QueryEscape(account), &out)
	return out, err
}

// tunnel returns the account's tunnel with this id, deleted or not, and whether the fake has it.
func (f *fakeAPI) tunnel(account, id string) (cffake.Tunnel, bool, error) {
	list, err := f.tunnels(account)
	if err != nil {
		return cffake.Tunnel{}, false, err
	}
	for _, t := range list {
		if t.ID == id {
			return t, true, nil
		}
	}
	return cffake.Tunnel{}, false, nil
}

// tunnelToken returns the connector token Cloudflare hands out for the tunnel.
func (f *fakeAPI) tunnelToken(account, id string) (string, error) {
	var out struct {
		Token string `json:"token"`
	}
	err := f.getJSON("/_fake/tunnel-token?account="+url.QueryEscape(account)+"&id="+url.QueryEscape(id), &out)
	return out.Token, err
}

// setTunnelHealth plays a connector and Cloudflare's side of it: the tunnel's status (inactive,
// degraded, healthy or down) and its number of live connections.
func (f *fakeAPI) setTunnelHealth(account, id, status string, connections int) error {
	body, err := json.Marshal(cffake.TunnelHealthRequest{ID: id, Status: status, Connections: connections})
	if err != nil {
		return err
	}
	return f.post("/_fake/tunnel-health?account="+url.QueryEscape(account), body)
}

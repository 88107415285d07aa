package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// writeVerbs are the verbs of apiserver_request_total that change something.
var writeVerbs = []string{"POST", "PUT", "PATCH", "DELETE", "DELETECOLLECTION", "APPLY"}

// apiWrites counts the mutating requests the API server served, by "VERB resource[/subresource]
// code", read from apiserver_request_total on its /metrics. This counts requests, not changes:
// whoever sent them (the manager, the benchmark, and the API server's own renewal of its identity
// Lease in kube-system every 10 s), and whether or not they succeeded (a conflict is a write
// attempt too). Events the manager records are writes of resource "events". The figure is exact
// and needs no watch, which at 10,000 objects could fall behind and miss events.
type apiWrites map[string]int

// metricLabel matches one label="value" of a Prometheus text line.
var metricLabel = regexp.MustCompile(`(\w+)="([^"]*)"`)

// scrapeWrites reads the API server's write counters now.
func scrapeWrites(ctx context.Context, env *benchEnv) (apiWrites, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(env.host, "/")+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := env.metrics.Do(req)
	if err != nil {
		return nil, fmt.Errorf("read the API server's metrics: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("read the API server's metrics: %s", resp.Status)
	}
	return parseWrites(resp.Body)
}

// parseWrites sums the apiserver_request_total series of the write verbs in Prometheus's text
// format by verb, resource, subresource and code.
func parseWrites(body io.Reader) (apiWrites, error) {
	out := apiWrites{}
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "apiserver_request_total{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		n, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			return nil, fmt.Errorf("apiserver_request_total: %w", err)
		}
		l := map[string]string{}
		for _, m := range metricLabel.FindAllStringSubmatch(labels, -1) {
			l[m[1]] = m[2]
		}
		if !slices.Contains(writeVerbs, l["verb"]) {
			continue
		}
		resource := l["resource"]
		if l["subresource"] != "" {
			resource += "/" + l["subresource"]
		}
		out[l["verb"]+" "+resource+" "+l["code"]] += int(n)
	}
	return out, sc.Err()
}

// since is the writes made after before was read, without the keys that did not change.
func (w apiWrites) since(before apiWrites) apiWrites {
	out := apiWrites{}
	for k, n := range w {
		if d := n - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// total is the number of writes.
func (w apiWrites) total() int {
	n := 0
	for _, v := range w {
		n += v
	}
	return n
}

// benchCreates is the key of the benchmark's own creates of ConnectivityServices.
const benchCreates = "POST connectivityservices 201"

// recordWrites records the writes of the create phase less the benchmark's own creates of the
// objects (one each), per object.
func recordWrites(res *result, writes apiWrites, objects int) {
	writes[benchCreates] -= objects
	if writes[benchCreates] == 0 {
		delete(writes, benchCreates)
	}
	res.K8sWrites = writes.total()
	res.K8sWritesByRequest = writes
	res.K8sWritesPerObject = float64(res.K8sWrites) / float64(objects)
}

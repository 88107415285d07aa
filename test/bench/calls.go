package main

import (
	"fmt"
	"slices"
	"time"

	"github.com/workersvpc/connectivity-operator/internal/cloudflare/fake"
)

// callLog is the part of the fake's request log that one scenario's token made.
type callLog []fake.Request

// newCallLog keeps the calls in the account, and those its token made outside any account
// (/user/tokens/verify), which count against the same budget.
func newCallLog(all []fake.Request, accountID string) callLog {
	label := ""
	for _, r := range all {
		if r.AccountID == accountID && r.Credential != "" && r.Credential != "unknown" {
			label = r.Credential
			break
		}
	}
	var out callLog
	for _, r := range all {
		if r.AccountID == accountID || (label != "" && r.Credential == label) {
			out = append(out, r)
		}
	}
	return out
}

// between keeps the calls that arrived in [from, to).
func (l callLog) between(from, to time.Time) callLog {
	var out callLog
	for _, r := range l {
		if !r.Time.Before(from) && r.Time.Before(to) {
			out = append(out, r)
		}
	}
	return out
}

func (l callLog) count() int {
	return len(l)
}

// route counts the calls of these routes.
func (l callLog) route(routes ...fake.Route) int {
	n := 0
	for _, r := range l {
		if slices.Contains(routes, r.Route) {
			n++
		}
	}
	return n
}

// status counts the calls answered with this HTTP status.
func (l callLog) status(code int) int {
	n := 0
	for _, r := range l {
		if r.Status == code {
			n++
		}
	}
	return n
}

// byRoute counts the calls per route; calls that matched no route count as "unrouted".
func (l callLog) byRoute() map[string]int {
	out := map[string]int{}
	for _, r := range l {
		name := string(r.Route)
		if name == "" {
			name = "unrouted"
		}
		out[name]++
	}
	return out
}

// perSecond counts the calls in each second since start.
func (l callLog) perSecond(start time.Time) []int {
	var out []int
	for _, r := range l {
		i := int(r.Time.Sub(start) / time.Second)
		if i < 0 {
			continue
		}
		for len(out) <= i {
			out = append(out, 0)
		}
		out[i]++
	}
	return out
}

// describe lists the calls as "+12.345s GET /path?query 200", timed from the first.
func (l callLog) describe() []string {
	out := make([]string, 0, len(l))
	for _, r := range l {
		at := r.Time.Sub(l[0].Time).Seconds()
		line := fmt.Sprintf("+%.3fs %s %s", at, r.Method, r.Path)
		if r.Query != "" {
			line += "?" + r.Query
		}
		out = append(out, fmt.Sprintf("%s %d", line, r.Status))
	}
	return out
}

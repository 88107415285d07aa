package main

import (
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/workersvpc/connectivity-operator/internal/cloudflare/cloudflaretest"
)

// callLog is the part of the fake's request log that one scenario's tokens made.
type callLog []cloudflaretest.Request

// newCallLog keeps the calls in the accounts, and those their tokens made outside any account
// (/user/tokens/verify), which count against the same budgets.
func newCallLog(all []cloudflaretest.Request, accts ...*benchAccount) callLog {
	ids := map[string]bool{}
	for _, acct := range accts {
		ids[acct.id] = true
	}
	labels := map[string]bool{}
	for _, r := range all {
		if ids[r.AccountID] && r.Credential != "" && r.Credential != "unknown" {
			labels[r.Credential] = true
		}
	}
	var out callLog
	for _, r := range all {
		if ids[r.AccountID] || labels[r.Credential] {
			out = append(out, r)
		}
	}
	return out
}

// between keeps the calls that arrived in [from, to).
func (l callLog) between(from, to time.Time) callLog {
	return l.where(func(r cloudflaretest.Request) bool { return !r.Time.Before(from) && r.Time.Before(to) })
}

// count is the number of calls.
func (l callLog) count() int {
	return len(l)
}

// route counts the calls of these routes.
func (l callLog) route(routes ...cloudflaretest.Route) int {
	return l.where(func(r cloudflaretest.Request) bool { return slices.Contains(routes, r.Route) }).count()
}

// status counts the calls answered with this HTTP status.
func (l callLog) status(code int) int {
	return l.where(func(r cloudflaretest.Request) bool { return r.Status == code }).count()
}

// routeStatus counts the calls of a route answered with this HTTP status.
func (l callLog) routeStatus(route cloudflaretest.Route, code int) int {
	return l.where(func(r cloudflaretest.Request) bool { return r.Route == route && r.Status == code }).count()
}

// where keeps the calls for which keep is true.
func (l callLog) where(keep func(cloudflaretest.Request) bool) callLog {
	var out callLog
	for _, r := range l {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

// listPasses counts the full list passes: list calls for page 1 of more than one service a page.
func (l callLog) listPasses() int {
	return l.where(func(r cloudflaretest.Request) bool {
		q, _ := url.ParseQuery(r.Query)
		return r.Route == cloudflaretest.RouteList && q.Get("page") == "1" && q.Get("per_page") != "1"
	}).count()
}

// probeLists counts the list calls of one service, the probe a verification makes of the
// account's permission.
func (l callLog) probeLists() int {
	return l.where(func(r cloudflaretest.Request) bool {
		q, _ := url.ParseQuery(r.Query)
		return r.Route == cloudflaretest.RouteList && q.Get("per_page") == "1"
	}).count()
}

// firstAfter returns when the first call at or after t that keep accepts arrived.
func (l callLog) firstAfter(t time.Time, keep func(cloudflaretest.Request) bool) (time.Time, bool) {
	for _, r := range l {
		if !r.Time.Before(t) && keep(r) {
			return r.Time, true
		}
	}
	return time.Time{}, false
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

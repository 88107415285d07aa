package main

import (
	"fmt"
	"strings"
)

// Performance targets. The benchmark reports them; it does not fail on them.
const (
	targetReadySeconds = 60
	targetRSSMiB       = 100
	targetBudgetUsed   = 90
)

// target is one performance target and whether the figures meet it.
type target struct {
	// Name says what is expected.
	Name string `json:"name"`
	// Met is nil when no scenario measured it.
	Met *bool `json:"met"`
	// Detail gives the figures behind the verdict.
	Detail string `json:"detail"`
}

func (t target) verdict() string {
	switch {
	case t.Met == nil:
		return "not measured"
	case *t.Met:
		return "met"
	default:
		return "NOT met"
	}
}

// evaluate checks the figures against the targets.
func evaluate(results []result) []target {
	return []target{
		readyTarget(results),
		postsTarget(results),
		rssTarget(results),
		budgetTarget(results),
	}
}

func readyTarget(results []result) target {
	t := target{Name: fmt.Sprintf("1,000 objects Ready in under %d s (unlimited)", targetReadySeconds)}
	for _, r := range results {
		if r.Objects == 1000 && r.BudgetUsedPercent == nil {
			t.Met = new(r.SecondsToReady < targetReadySeconds)
			t.Detail = fmt.Sprintf("%s: %.1f s", r.Scenario, r.SecondsToReady)
		}
	}
	return t
}

func postsTarget(results []result) target {
	t := target{Name: "exactly 1 POST per object"}
	met := len(results) > 0
	details := make([]string, 0, len(results))
	for _, r := range results {
		met = met && r.Posts == r.Objects
		details = append(details, fmt.Sprintf("%s: %d POSTs for %d objects", r.Scenario, r.Posts, r.Objects))
	}
	return finish(t, met, len(results) > 0, details)
}

func rssTarget(results []result) target {
	t := target{Name: fmt.Sprintf("manager RSS under %d MiB", targetRSSMiB)}
	met := true
	details := make([]string, 0, len(results))
	for _, r := range results {
		met = met && r.PeakRSSMiB < targetRSSMiB
		details = append(details, fmt.Sprintf("%s: %.1f MiB", r.Scenario, r.PeakRSSMiB))
	}
	return finish(t, met, len(results) > 0, details)
}

func budgetTarget(results []result) target {
	t := target{Name: fmt.Sprintf("budget used >= %d%% with zero 429s", targetBudgetUsed)}
	for _, r := range results {
		if r.BudgetUsedPercent != nil {
			t.Met = new(*r.BudgetUsedPercent >= targetBudgetUsed && r.RateLimited == 0)
			t.Detail = fmt.Sprintf("%s: %.1f%% used, %d 429s", r.Scenario, *r.BudgetUsedPercent, r.RateLimited)
		}
	}
	return t
}

// finish sets the verdict of a target that every scenario contributes to.
func finish(t target, met, measured bool, details []string) target {
	if measured {
		t.Met = new(met)
	}
	t.Detail = strings.Join(details, ", ")
	return t
}

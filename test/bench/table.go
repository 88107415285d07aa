package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// table is a header and rows of cells, printed aligned for a terminal or as markdown for the
// README.
type table struct {
	header []string
	rows   [][]string
}

// mainTable has one row per scenario: speed, calls and writes on the create path, steady state,
// duplicates and the manager's resources.
func mainTable(results []result) table {
	t := table{header: []string{"scenario", "accounts", "objects", "s to Ready", "calls/object (create)",
		"POSTs/object", "k8s writes/object", "steady calls/account/interval", "steady GET+PUT+POST",
		"duplicates", "peak RSS MiB", "CPU s", "429s", "budget used %"}}
	for _, r := range results {
		budget := "-"
		if r.BudgetUsedPercent != nil {
			budget = fmt.Sprintf("%.1f", *r.BudgetUsedPercent)
		}
		perInterval, getPutPost := "-", "-"
		if r.SteadyWindowSeconds > 0 {
			perInterval, getPutPost = fmt.Sprintf("%.1f", r.SteadyCallsPerResync), fmt.Sprint(r.SteadyGetPutPost)
		}
		t.rows = append(t.rows, []string{r.Scenario, fmt.Sprint(r.Accounts), fmt.Sprint(r.Objects),
			fmt.Sprintf("%.1f", r.SecondsToReady), fmt.Sprintf("%.2f", r.CallsPerObject),
			fmt.Sprintf("%.2f", r.PostsPerObject), fmt.Sprintf("%.2f", r.K8sWritesPerObject), perInterval, getPutPost,
			fmt.Sprint(r.Duplicates), fmt.Sprintf("%.1f", r.PeakRSSMiB), fmt.Sprintf("%.1f", r.CPUSeconds),
			fmt.Sprint(r.RateLimited), budget})
	}
	return t
}

// disruptionTable has one row per scenario with a disruption; see disruptionResult for what each
// column measures for each kind.
func disruptionTable(results []result) table {
	t := table{header: []string{"scenario", "disruption", "s to first call", "s to recovered",
		"calls in the first minute"}}
	for _, r := range results {
		d := r.Disruption
		if d == nil {
			continue
		}
		t.rows = append(t.rows, []string{r.Scenario, d.Description, fmt.Sprintf("%.1f", d.SecondsToFirstCall),
			fmt.Sprintf("%.1f", d.SecondsToRecovered), describeWindow(d)})
	}
	return t
}

// describeWindow summarises the calls of the minute after a disruption.
func describeWindow(d *disruptionResult) string {
	return fmt.Sprintf("%d list passes, %d verify (+%d probe lists), %d GET/PUT/POST/DELETE, %d 429s",
		d.ListPasses, d.VerifyCalls, d.ProbeLists, d.OtherCalls, d.Window429s)
}

// print writes the table, nothing when it has no rows.
func (t table) print(w io.Writer, markdown bool) error {
	if len(t.rows) == 0 {
		return nil
	}
	if markdown {
		return t.printMarkdown(w)
	}
	_, _ = fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, row := range append([][]string{t.header}, t.rows...) {
		_, _ = fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w)
	return err
}

// printMarkdown writes the table as a markdown table.
func (t table) printMarkdown(w io.Writer) error {
	line := func(cells []string) string { return "| " + strings.Join(cells, " | ") + " |" }
	lines := make([]string, 0, len(t.rows)+3)
	lines = append(lines, "", line(t.header), "|"+strings.Repeat("---|", len(t.header)))
	for _, row := range t.rows {
		lines = append(lines, line(row))
	}
	_, err := fmt.Fprintln(w, strings.Join(lines, "\n")+"\n")
	return err
}

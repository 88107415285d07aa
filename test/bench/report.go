package main

import (
	"bufio"
	"bytes"
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// document is the JSON the benchmark writes.
type document struct {
	// Timestamp is when the report was written.
	Timestamp time.Time `json:"timestamp"`
	// Machine describes where it ran.
	Machine machine `json:"machine"`
	// ResyncInterval and MaxConcurrentReconciles are the manager settings every scenario used.
	ResyncInterval          string `json:"resyncInterval"`
	MaxConcurrentReconciles int    `json:"maxConcurrentReconciles"`
	// Scenarios are the figures, one entry per scenario run.
	Scenarios []result `json:"scenarios"`
	// Targets say which performance targets the figures meet.
	Targets []target `json:"targets"`
}

// machine describes the host and the binaries measured.
type machine struct {
	NumCPU    int    `json:"numCPU"`
	GOOS      string `json:"goos"`
	GOARCH    string `json:"goarch"`
	CPUModel  string `json:"cpuModel"`
	GoVersion string `json:"goVersion"`
	// ManagerGoVersion and ManagerRevision come from the manager binary's build info.
	ManagerGoVersion string `json:"managerGoVersion,omitempty"`
	ManagerRevision  string `json:"managerRevision,omitempty"`
}

// report prints the tables and the targets, and writes the JSON.
func report(w io.Writer, opts options, results []result) error {
	doc := document{
		Timestamp:               time.Now().UTC(),
		Machine:                 describeMachine(opts.manager),
		ResyncInterval:          opts.resync.String(),
		MaxConcurrentReconciles: opts.workers,
		Scenarios:               results,
		Targets:                 evaluate(results, opts.poll),
	}
	for _, t := range []table{mainTable(results), disruptionTable(results)} {
		if err := t.print(w, opts.markdown); err != nil {
			return err
		}
	}
	for _, t := range doc.Targets {
		line := fmt.Sprintf("target: %s: %s", t.Name, t.verdict())
		if t.Detail != "" {
			line += " (" + t.Detail + ")"
		}
		_, _ = fmt.Fprintln(w, line)
	}
	if err := writeJSON(opts.out, doc); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "wrote %s\n", opts.out)
	return err
}

// writeJSON writes the document, creating its directory.
func writeJSON(path string, doc document) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// describeMachine gathers the host's CPUs and the Go versions of the benchmark and the manager.
func describeMachine(managerPath string) machine {
	m := machine{
		NumCPU: runtime.NumCPU(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH,
		CPUModel: cpuModel(), GoVersion: runtime.Version(),
	}
	info, err := buildinfo.ReadFile(managerPath)
	if err != nil {
		return m
	}
	m.ManagerGoVersion = info.GoVersion
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			m.ManagerRevision = s.Value + m.ManagerRevision
		case "vcs.modified":
			if s.Value == "true" {
				m.ManagerRevision += "+dirty"
			}
		}
	}
	return m
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(key) == "model name" {
			return strings.TrimSpace(value)
		}
	}
	return ""
}

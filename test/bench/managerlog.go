package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// serviceController is the name of the manager's ConnectivityService controller in its log.
const serviceController = "connectivityservice"

// Messages of controller-runtime that the benchmark reads in a manager's log: a controller
// started its workers (only the leader does), and a reconcile ended without error (logged at
// level 5 only, as "Reconcile successful" or "Reconcile done, requeueing[ after <d>]").
const (
	msgStartingWorkers  = "Starting workers"
	msgReconcileDone    = "Reconcile done"
	msgReconcileSuccess = "Reconcile successful"
)

// logLine is the part of a manager's JSON log line that the benchmark reads.
type logLine struct {
	TS         time.Time `json:"ts"`
	Msg        string    `json:"msg"`
	Controller string    `json:"controller"`
	Namespace  string    `json:"namespace"`
	Name       string    `json:"name"`
}

// readManagerLog parses a manager's log so far. Lines that are not JSON, such as client-go's
// klog lines, are skipped, and so is a last line still being written. Lines may be long: at
// level 5 controller-runtime logs its whole work queue on one line.
func readManagerLog(path string) ([]logLine, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []logLine
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		var l logLine
		if json.Unmarshal(line, &l) == nil {
			out = append(out, l)
		}
	}
	return out, nil
}

// firstLine returns the first line of a controller with this message.
func firstLine(lines []logLine, controller, msg string) (logLine, bool) {
	for _, l := range lines {
		if l.Controller == controller && l.Msg == msg {
			return l, true
		}
	}
	return logLine{}, false
}

// firstReconciles returns, per object of a controller, when its first reconcile without error
// ended.
func firstReconciles(lines []logLine, controller string) map[types.NamespacedName]time.Time {
	out := map[types.NamespacedName]time.Time{}
	for _, l := range lines {
		if l.Controller != controller || !reconcileEnded(l.Msg) {
			continue
		}
		key := types.NamespacedName{Namespace: l.Namespace, Name: l.Name}
		if _, seen := out[key]; !seen {
			out[key] = l.TS
		}
	}
	return out
}

// reconcileEnded tells whether a message is controller-runtime's end of a reconcile without error.
func reconcileEnded(msg string) bool {
	return msg == msgReconcileSuccess || strings.HasPrefix(msg, msgReconcileDone)
}

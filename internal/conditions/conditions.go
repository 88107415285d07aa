// Package conditions writes the operator's kstatus conditions: Ready, Reconciling and Stalled,
// which move together so that Flux, Argo CD and `kubectl wait` read every kind the same way. The
// controllers and the GitOps tests use these same functions, so the tests check what the
// operator really writes.
package conditions

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
)

// Object is every kind of the operator: an object with a generation and conditions.
type Object interface {
	GetGeneration() int64
	GetConditions() []metav1.Condition
	SetConditions([]metav1.Condition)
}

// Set sets one condition, stamped with the object's generation.
func Set(obj Object, condType string, status metav1.ConditionStatus, reason, message string) {
	conds := obj.GetConditions()
	meta.SetStatusCondition(&conds, metav1.Condition{
		Type:               condType,
		Status:             status,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: obj.GetGeneration(),
	})
	obj.SetConditions(conds)
}

// Remove removes one condition.
func Remove(obj Object, condType string) {
	conds := obj.GetConditions()
	meta.RemoveStatusCondition(&conds, condType)
	obj.SetConditions(conds)
}

// MarkReady records success: Ready=True and neither Reconciling nor Stalled, which kstatus reads
// as Current.
func MarkReady(obj Object, reason, message string) {
	Set(obj, v1alpha1.ConditionReady, metav1.ConditionTrue, reason, message)
	Remove(obj, v1alpha1.ConditionReconciling)
	Remove(obj, v1alpha1.ConditionStalled)
}

// MarkReconciling records work in progress or a wait that resolves by itself (kstatus
// InProgress). It leaves status.observedGeneration alone.
func MarkReconciling(obj Object, reason, message string) {
	Set(obj, v1alpha1.ConditionReconciling, metav1.ConditionTrue, reason, message)
	Set(obj, v1alpha1.ConditionReady, metav1.ConditionFalse, reason, message)
	Remove(obj, v1alpha1.ConditionStalled)
}

// MarkStalled records a failure only a person can fix (kstatus Failed). It reports whether the
// stall is new, so the caller emits its warning event once rather than on every retry.
func MarkStalled(obj Object, reason, message string) bool {
	prev := meta.FindStatusCondition(obj.GetConditions(), v1alpha1.ConditionStalled)
	isNew := prev == nil || prev.Status != metav1.ConditionTrue || prev.Reason != reason || prev.Message != message
	Set(obj, v1alpha1.ConditionStalled, metav1.ConditionTrue, reason, message)
	Set(obj, v1alpha1.ConditionReady, metav1.ConditionFalse, reason, message)
	Remove(obj, v1alpha1.ConditionReconciling)
	return isNew
}

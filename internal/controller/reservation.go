package controller

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	"github.com/workersvpc/connectivity-operator/internal/cloudflare"
	"github.com/workersvpc/connectivity-operator/internal/ownership"
)

// Kinds of reservation a ConnectivityService holds: the name of its service, so that no two
// objects create or rename to one name, and the id of the service it claimed, so that no two
// objects claim one service.
const (
	reservationName = "service"
	reservationID   = "serviceid"
)

// serviceKey is the reservation of a service name in an account.
func serviceKey(accountID, name string) ownership.Key {
	return ownership.Key{Kind: reservationName, AccountID: accountID, Name: name}
}

// serviceIDKey is the reservation of a service id in an account.
func serviceIDKey(accountID, id string) ownership.Key {
	return ownership.Key{Kind: reservationID, AccountID: accountID, Name: id}
}

// holderOf is the object as a reservation holder.
func holderOf(obj *v1alpha1.ConnectivityService) ownership.Holder {
	return ownership.Holder{UID: obj.UID, Namespace: obj.Namespace, Name: obj.Name}
}

// reserve makes the object the holder of the name in its account, or stalls it with NameConflict
// naming the object that holds it. held is false when the caller must stop and return res and err.
func (r *ConnectivityServiceReconciler) reserve(ctx context.Context, s *serviceScope, name string) (res ctrl.Result, held bool, err error) {
	accountID := s.accountID()
	return r.hold(ctx, s.obj, serviceKey(accountID, name), func(other ownership.Holder) string {
		return fmt.Sprintf("ConnectivityService %s holds the name %q in Cloudflare account %s: choose another spec.name, or delete that object",
			other, name, accountID)
	})
}

// reserveID makes the object the only one that may claim the service with this id.
func (r *ConnectivityServiceReconciler) reserveID(ctx context.Context, s *serviceScope, id string) (res ctrl.Result, held bool, err error) {
	return r.hold(ctx, s.obj, serviceIDKey(s.accountID(), id), func(other ownership.Holder) string {
		return fmt.Sprintf("Cloudflare service %s is already managed by ConnectivityService %s: one service has one owner; "+
			"remove the %s annotation from this object, or delete that object", id, other, v1alpha1.AnnotationServiceID)
	})
}

// hold reserves key for obj; when another object holds it, obj stalls with NameConflict and the
// message held gives.
func (r *ConnectivityServiceReconciler) hold(ctx context.Context, obj *v1alpha1.ConnectivityService, key ownership.Key, held func(ownership.Holder) string) (ctrl.Result, bool, error) {
	err := r.Reservations.Reserve(ctx, key, holderOf(obj))
	if other, ok := ownership.IsHeld(err); ok {
		return r.stallOwnership(obj, v1alpha1.ReasonNameConflict, held(other.Holder)), false, nil
	}
	return ctrl.Result{}, err == nil, err
}

// stallOwnership stalls on a question of ownership (NameConflict, OwnershipUnknown). Unlike other
// stalls it comes back every resync interval: its cause can go away without any change to this
// object (the other service or object is deleted), and then it clears by itself.
func (r *ConnectivityServiceReconciler) stallOwnership(obj *v1alpha1.ConnectivityService, reason, message string) ctrl.Result {
	r.stall(obj, reason, message)
	return r.resync()
}

// stalledOnOwnership tells whether the object is stalled on a question of ownership.
func stalledOnOwnership(obj *v1alpha1.ConnectivityService) bool {
	c := meta.FindStatusCondition(obj.Status.Conditions, v1alpha1.ConditionStalled)
	return c != nil && c.Status == metav1.ConditionTrue &&
		(c.Reason == v1alpha1.ReasonNameConflict || c.Reason == v1alpha1.ReasonOwnershipUnknown)
}

// holderExists tells whether a reservation's holder, an object of the kind newObject makes,
// still exists, reading the API server: a cache a moment behind must never declare a live holder
// gone.
func holderExists[T client.Object](reader client.Reader, newObject func() T) ownership.HolderExists {
	return func(ctx context.Context, h ownership.Holder) (bool, error) {
		obj := newObject()
		err := reader.Get(ctx, types.NamespacedName{Namespace: h.Namespace, Name: h.Name}, obj)
		if err != nil {
			return false, client.IgnoreNotFound(err)
		}
		return obj.GetUID() == h.UID, nil
	}
}

func nameTakenMessage(existing cloudflare.Service, accountID string) string {
	return fmt.Sprintf("a Cloudflare service named %q already exists in account %s (service id %s) and is not managed by this object: "+
		"choose another spec.name, or annotate the object with %s: \"true\" to adopt it",
		existing.Name, accountID, existing.ID, v1alpha1.AnnotationAdopt)
}

func ownershipUnknownMessage(found cloudflare.Service, accountID string) string {
	return fmt.Sprintf("a Cloudflare service named %q exists in account %s (service id %s), and an earlier create of this object "+
		"whose outcome is unknown may have made it, but nothing proves it did: annotate the object with %s: \"true\" to take it over, "+
		"or choose another spec.name", found.Name, accountID, found.ID, v1alpha1.AnnotationAdopt)
}

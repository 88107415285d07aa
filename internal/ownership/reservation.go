// Package ownership holds the evidence that a remote Cloudflare object is an object's own, and
// the decisions made on it. Cloudflare has no tags and no idempotency key: the only handle is a
// name unique per account. So before an object creates, claims, renames or deletes a remote
// object of a name, it reserves that name with an atomic Kubernetes create; the informer cache,
// which may be a second behind, never decides who owns a name.
package ownership

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Labels and annotations of a reservation Lease. The holder's UID is a label so that every
// reservation of one object can be found (and released) with one list call.
const (
	// LabelKind marks a Lease as a name reservation and says of which kind of remote object.
	LabelKind = "connectivity.workersvpc.dev/reservation"
	// LabelHolderUID is the UID of the object holding the reservation.
	LabelHolderUID = "connectivity.workersvpc.dev/holder-uid"
	// LabelAccountID is the Cloudflare account the reserved name belongs to.
	LabelAccountID = "connectivity.workersvpc.dev/account-id"
	// AnnotationName is the reserved name itself (a Lease name holds only its hash).
	AnnotationName = "connectivity.workersvpc.dev/name"
	// AnnotationHolder is the holder's namespace/name, to tell a person who holds a name.
	AnnotationHolder = "connectivity.workersvpc.dev/holder"
)

// reclaimAttempts bounds the loop that races other reclaimers of an abandoned reservation.
const reclaimAttempts = 3

// Key is one reservable name: a kind of remote object, a Cloudflare account and a name.
type Key struct {
	// Kind is the kind of remote object, such as "service"; each kind has its own names.
	Kind string
	// AccountID is the Cloudflare account in which the name is unique.
	AccountID string
	// Name is the remote object's name.
	Name string
}

// LeaseName is the reservation's object name: a hash, since Cloudflare names are not valid
// Kubernetes names, and the kind in front so that `kubectl get leases` tells them apart.
func (k Key) LeaseName() string {
	sum := sha256.Sum256([]byte(k.Kind + "\x00" + k.AccountID + "\x00" + k.Name))
	return "cf" + k.Kind + "-" + hex.EncodeToString(sum[:16])
}

// Holder is the Kubernetes object that holds a reservation.
type Holder struct {
	UID       types.UID
	Namespace string
	Name      string
}

// String is namespace/name, as users know the object.
func (h Holder) String() string { return h.Namespace + "/" + h.Name }

// HeldError says that another object, which still exists, holds the name.
type HeldError struct {
	Key    Key
	Holder Holder
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("the name %q in Cloudflare account %s is reserved by %s", e.Key.Name, e.Key.AccountID, e.Holder)
}

// IsHeld tells whether err is a HeldError, and returns it.
func IsHeld(err error) (*HeldError, bool) {
	return errors.AsType[*HeldError](err)
}

// HolderExists tells whether the holder still exists: an object of that namespace and name with
// that UID. It must read the API server, not a cache, since a cache a second behind could
// declare a live holder gone.
type HolderExists func(ctx context.Context, h Holder) (bool, error)

// Reservations reserves names with Leases in one namespace (the operator's own).
type Reservations struct {
	// Client writes Leases.
	Client client.Client
	// Reader reads Leases from the API server, never from a cache.
	Reader client.Reader
	// Namespace holds the Leases.
	Namespace string
	// Exists tells whether a holder still exists, so that its abandoned reservations are reclaimed.
	Exists HolderExists

	// held remembers the reservations this process created or confirmed, so a resync of an
	// object that already holds its name costs no API call. A reservation only changes hands
	// when its holder no longer exists, so a confirmed hold stays true while the holder lives.
	held sync.Map // lease name -> types.UID
}

// Reserve makes h the holder of key. It returns nil when h holds it (created now, held already,
// or reclaimed from a holder that no longer exists) and a *HeldError when another object holds it.
func (r *Reservations) Reserve(ctx context.Context, key Key, h Holder) error {
	if uid, ok := r.held.Load(key.LeaseName()); ok && uid == h.UID {
		return nil
	}
	err := r.Client.Create(ctx, r.lease(key, h))
	if err == nil {
		r.held.Store(key.LeaseName(), h.UID)
		return nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	for range reclaimAttempts {
		if err = r.claimExisting(ctx, key, h); err == nil {
			r.held.Store(key.LeaseName(), h.UID)
			return nil
		}
		if !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return err
}

// claimExisting confirms that h holds an existing reservation, or takes it over when its holder
// no longer exists. The update carries the resourceVersion read, so two reclaimers cannot both win.
func (r *Reservations) claimExisting(ctx context.Context, key Key, h Holder) error {
	cur := &coordinationv1.Lease{}
	if err := r.Reader.Get(ctx, client.ObjectKey{Namespace: r.Namespace, Name: key.LeaseName()}, cur); err != nil {
		if apierrors.IsNotFound(err) {
			return r.Client.Create(ctx, r.lease(key, h))
		}
		return err
	}
	holder := holderOf(cur)
	if holder.UID == h.UID {
		return nil
	}
	alive, err := r.Exists(ctx, holder)
	if err != nil {
		return err
	}
	if alive {
		return &HeldError{Key: key, Holder: holder}
	}
	want := r.lease(key, h)
	cur.Labels, cur.Annotations, cur.Spec = want.Labels, want.Annotations, want.Spec
	return r.Client.Update(ctx, cur)
}

// Release gives up h's reservation of key. It is a no-op when the reservation is gone or held by
// another object.
func (r *Reservations) Release(ctx context.Context, key Key, h Holder) error {
	r.held.Delete(key.LeaseName())
	cur := &coordinationv1.Lease{}
	if err := r.Reader.Get(ctx, client.ObjectKey{Namespace: r.Namespace, Name: key.LeaseName()}, cur); err != nil {
		return client.IgnoreNotFound(err)
	}
	if holderOf(cur).UID != h.UID {
		return nil
	}
	return r.delete(ctx, cur)
}

// ReleaseAll gives up every reservation h holds in the account except those of keep: after a
// rename, the old name; on deletion, all of them.
// An empty accountID means every account.
func (r *Reservations) ReleaseAll(ctx context.Context, h Holder, accountID string, keep ...Key) error {
	var leases coordinationv1.LeaseList
	if err := r.Reader.List(ctx, &leases, client.InNamespace(r.Namespace), holderLabels(h, accountID)); err != nil {
		return err
	}
	kept := map[string]bool{}
	for _, k := range keep {
		kept[k.LeaseName()] = true
	}
	for i := range leases.Items {
		l := &leases.Items[i]
		if kept[l.Name] {
			continue
		}
		r.held.Delete(l.Name)
		if err := r.delete(ctx, l); err != nil {
			return err
		}
	}
	return nil
}

// holderLabels selects the reservations of h, in one account or (accountID "") in all.
func holderLabels(h Holder, accountID string) client.MatchingLabels {
	labels := client.MatchingLabels{LabelHolderUID: string(h.UID)}
	if accountID != "" {
		labels[LabelAccountID] = accountID
	}
	return labels
}

// delete removes a Lease only if it is still the version read, so a reservation that changed
// hands in between is never deleted.
func (r *Reservations) delete(ctx context.Context, l *coordinationv1.Lease) error {
	err := r.Client.Delete(ctx, l, client.Preconditions{UID: &l.UID, ResourceVersion: &l.ResourceVersion})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}

// lease is the reservation of key by h.
func (r *Reservations) lease(key Key, h Holder) *coordinationv1.Lease {
	identity := h.String()
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: r.Namespace,
			Name:      key.LeaseName(),
			Labels: map[string]string{
				LabelKind: key.Kind, LabelHolderUID: string(h.UID), LabelAccountID: key.AccountID,
			},
			Annotations: map[string]string{AnnotationName: key.Name, AnnotationHolder: identity},
		},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &identity},
	}
}

// holderOf reads the holder from a reservation Lease.
func holderOf(l *coordinationv1.Lease) Holder {
	h := Holder{UID: types.UID(l.Labels[LabelHolderUID])}
	h.Namespace, h.Name, _ = strings.Cut(l.Annotations[AnnotationHolder], "/")
	return h
}

// Package inventory keeps, per Cloudflare account, the last full list of its services. Every
// object of an account is observed from that one list, fetched at most once per resync interval,
// instead of one GET per object: the API budget is 1,200 calls per 5 minutes per token, for all
// of that token's clients.
package inventory

import (
	"context"
	"sync"
	"time"

	"github.com/workersvpc/connectivity-operator/internal/cloudflare"
)

// Inventory is safe for concurrent use by every reconcile worker.
type Inventory struct {
	// Now is the clock; tests may replace it.
	Now func() time.Time

	mu       sync.Mutex
	accounts map[string]*snapshot
	// deleted remembers, for a while, the services this process deleted, so a reconcile working
	// from a cache that has not yet seen the object's release does not delete them twice.
	deleted map[string]time.Time
}

// tombstoneAge is how long a deleted service id is remembered: far longer than a cache lags.
const tombstoneAge = 10 * time.Minute

// snapshot is one account's list. Its own lock makes concurrent lookups of a stale snapshot wait
// for a single list call instead of each making one.
type snapshot struct {
	mu        sync.Mutex
	fetchedAt time.Time
	byID      map[string]cloudflare.Service
}

// New returns an empty Inventory.
func New() *Inventory {
	return &Inventory{Now: time.Now, accounts: map[string]*snapshot{}, deleted: map[string]time.Time{}}
}

func (inv *Inventory) snapshot(accountID string) *snapshot {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	s, ok := inv.accounts[accountID]
	if !ok {
		s = &snapshot{}
		inv.accounts[accountID] = s
	}
	return s
}

// fresh lists the account's services when the snapshot is older than maxAge. The caller must
// hold s.mu, so callers that find the same stale snapshot wait for one list call.
func (inv *Inventory) fresh(ctx context.Context, s *snapshot, cl cloudflare.Client, maxAge time.Duration) error {
	if s.byID != nil && inv.Now().Sub(s.fetchedAt) < maxAge {
		return nil
	}
	list, err := cl.List(ctx)
	if err != nil {
		return err
	}
	s.byID = make(map[string]cloudflare.Service, len(list))
	for _, svc := range list {
		s.byID[svc.ID] = svc
	}
	s.fetchedAt = inv.Now()
	return nil
}

// ByID returns the service with this id from a list at most maxAge old, listing first if the
// snapshot is older. found is false when the list does not hold it.
func (inv *Inventory) ByID(ctx context.Context, accountID string, cl cloudflare.Client, id string, maxAge time.Duration) (svc cloudflare.Service, found bool, err error) {
	s := inv.snapshot(accountID)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := inv.fresh(ctx, s, cl, maxAge); err != nil {
		return cloudflare.Service{}, false, err
	}
	svc, found = s.byID[id]
	return svc, found, nil
}

// ByName returns the service with this name from a list at most maxAge old, listing first if the
// snapshot is older.
func (inv *Inventory) ByName(ctx context.Context, accountID string, cl cloudflare.Client, name string, maxAge time.Duration) (svc cloudflare.Service, found bool, err error) {
	s := inv.snapshot(accountID)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := inv.fresh(ctx, s, cl, maxAge); err != nil {
		return cloudflare.Service{}, false, err
	}
	for _, svc := range s.byID {
		if svc.Name == name {
			return svc, true, nil
		}
	}
	return cloudflare.Service{}, false, nil
}

// Put records a service this operator just created, updated or read, so the next lookup sees it
// without a list call.
func (inv *Inventory) Put(accountID string, svc cloudflare.Service) {
	s := inv.snapshot(accountID)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byID != nil {
		s.byID[svc.ID] = svc
	}
}

// Forget drops a service this operator deleted, or found gone.
func (inv *Inventory) Forget(accountID, id string) {
	s := inv.snapshot(accountID)
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byID, id)
}

// Deleted records that this process deleted the service, and forgets it from the account's list.
func (inv *Inventory) Deleted(accountID, id string) {
	inv.Forget(accountID, id)
	inv.mu.Lock()
	defer inv.mu.Unlock()
	now := inv.Now()
	for old, at := range inv.deleted {
		if now.Sub(at) > tombstoneAge {
			delete(inv.deleted, old)
		}
	}
	inv.deleted[accountID+"/"+id] = now
}

// WasDeleted tells whether this process deleted the service recently.
func (inv *Inventory) WasDeleted(accountID, id string) bool {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	at, ok := inv.deleted[accountID+"/"+id]
	return ok && inv.Now().Sub(at) <= tombstoneAge
}

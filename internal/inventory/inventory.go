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
	"github.com/workersvpc/connectivity-operator/internal/ratelimit"
)

// Lister is what the inventory needs of an account's client: the full list of its services. A
// narrow interface, so tests can count and slow the calls.
type Lister interface {
	List(ctx context.Context) ([]cloudflare.Service, error)
}

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

// failedListHold is how long periodic observation leaves an account's list alone after it
// failed without a Retry-After: every object of the account would otherwise try it again.
const failedListHold = 10 * time.Second

// snapshot is one account's list. Its lock guards the fields only and is never held during a
// list call, so a lookup that must not wait (a user's create) never waits behind observation
// waiting for the budget. Concurrent lookups of a stale snapshot share one list call.
type snapshot struct {
	mu        sync.Mutex
	fetchedAt time.Time
	byID      map[string]cloudflare.Service
	// failed and retryAt hold back periodic observation after a failed list.
	failed  error
	retryAt time.Time
	// inflight is the list call under way at each priority.
	inflight map[ratelimit.Priority]*listCall
}

// listCall is one list call that lookups share.
type listCall struct {
	done chan struct{}
	err  error
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
		s = &snapshot{inflight: map[ratelimit.Priority]*listCall{}}
		inv.accounts[accountID] = s
	}
	return s
}

// fresh makes sure the snapshot is at most maxAge old, listing the account if not. A lookup
// joins a list call already under way at its own priority or higher (observation joins a user's
// list, never the other way round); observation also gives a list that just failed a rest.
func (inv *Inventory) fresh(ctx context.Context, s *snapshot, cl Lister, maxAge time.Duration) error {
	prio := ratelimit.PriorityOf(ctx)
	for {
		s.mu.Lock()
		if s.byID != nil && inv.Now().Sub(s.fetchedAt) < maxAge {
			s.mu.Unlock()
			return nil
		}
		if prio == ratelimit.Low && s.failed != nil && inv.Now().Before(s.retryAt) {
			err := s.failed
			s.mu.Unlock()
			return err
		}
		call := s.inflight[ratelimit.High]
		if call == nil && prio == ratelimit.Low {
			call = s.inflight[ratelimit.Low]
		}
		if call == nil {
			call = &listCall{done: make(chan struct{})}
			s.inflight[prio] = call
			s.mu.Unlock()
			return inv.list(ctx, s, cl, prio, call)
		}
		s.mu.Unlock()
		select {
		case <-call.done:
			if call.err != nil {
				return call.err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// list makes the list call of a lookup and hands its outcome to the lookups that joined it.
func (inv *Inventory) list(ctx context.Context, s *snapshot, cl Lister, prio ratelimit.Priority, call *listCall) error {
	list, err := cl.List(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		s.byID = make(map[string]cloudflare.Service, len(list))
		for _, svc := range list {
			s.byID[svc.ID] = svc
		}
		s.fetchedAt, s.failed = inv.Now(), nil
	} else {
		hold, ok := cloudflare.RetryAfter(err)
		if !ok {
			hold = failedListHold
		}
		s.failed, s.retryAt = err, inv.Now().Add(hold)
	}
	delete(s.inflight, prio)
	call.err = err
	close(call.done)
	return err
}

// ByID returns the service with this id from a list at most maxAge old, listing first if the
// snapshot is older. found is false when the list does not hold it.
func (inv *Inventory) ByID(ctx context.Context, accountID string, cl Lister, id string, maxAge time.Duration) (svc cloudflare.Service, found bool, err error) {
	s := inv.snapshot(accountID)
	if err := inv.fresh(ctx, s, cl, maxAge); err != nil {
		return cloudflare.Service{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	svc, found = s.byID[id]
	return svc, found, nil
}

// ByName returns the service with this name from a list at most maxAge old, listing first if the
// snapshot is older.
func (inv *Inventory) ByName(ctx context.Context, accountID string, cl Lister, name string, maxAge time.Duration) (svc cloudflare.Service, found bool, err error) {
	s := inv.snapshot(accountID)
	if err := inv.fresh(ctx, s, cl, maxAge); err != nil {
		return cloudflare.Service{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
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

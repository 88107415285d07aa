package inventory_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/workersvpc/connectivity-operator/internal/cloudflare"
	"github.com/workersvpc/connectivity-operator/internal/inventory"
)

const (
	accountA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	accountB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	maxAge   = 10 * time.Minute
)

// fakeClient serves List from services and counts the calls.
type fakeClient struct {
	lists atomic.Int32
	// delay makes List slow, so concurrent lookups overlap with it.
	delay time.Duration

	mu       sync.Mutex
	services []cloudflare.Service
	err      error
}

var _ inventory.Lister = (*fakeClient)(nil)

func newFakeClient(services ...cloudflare.Service) *fakeClient {
	return &fakeClient{services: services}
}

func (f *fakeClient) set(services []cloudflare.Service, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.services, f.err = services, err
}

func (f *fakeClient) List(ctx context.Context) ([]cloudflare.Service, error) {
	f.lists.Add(1)
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	return append([]cloudflare.Service(nil), f.services...), nil
}

// clock is a settable clock for Inventory.Now, safe for concurrent reads.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock {
	return &clock{now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newInventory(c *clock) *inventory.Inventory {
	inv := inventory.New()
	inv.Now = c.Now
	return inv
}

func svc(id, name string) cloudflare.Service {
	return cloudflare.Service{ID: id, Name: name, Type: "http"}
}

func mustByID(t *testing.T, inv *inventory.Inventory, account string, cl inventory.Lister, id string) (cloudflare.Service, bool) {
	t.Helper()
	got, found, err := inv.ByID(t.Context(), account, cl, id, maxAge)
	if err != nil {
		t.Fatalf("ByID(%q): %v", id, err)
	}
	return got, found
}

func mustByName(t *testing.T, inv *inventory.Inventory, account string, cl inventory.Lister, name string) (cloudflare.Service, bool) {
	t.Helper()
	got, found, err := inv.ByName(t.Context(), account, cl, name, maxAge)
	if err != nil {
		t.Fatalf("ByName(%q): %v", name, err)
	}
	return got, found
}

func TestLookupsFromOneList(t *testing.T) {
	cl := newFakeClient(svc("id-1", "web"), svc("id-2", "db"))
	inv := newInventory(newClock())

	tests := []struct {
		name      string
		lookup    func(t *testing.T) (cloudflare.Service, bool)
		wantFound bool
		wantID    string
	}{
		{name: "by id", lookup: func(t *testing.T) (cloudflare.Service, bool) { return mustByID(t, inv, accountA, cl, "id-1") }, wantFound: true, wantID: "id-1"},
		{name: "by other id", lookup: func(t *testing.T) (cloudflare.Service, bool) { return mustByID(t, inv, accountA, cl, "id-2") }, wantFound: true, wantID: "id-2"},
		{name: "by missing id", lookup: func(t *testing.T) (cloudflare.Service, bool) { return mustByID(t, inv, accountA, cl, "id-3") }, wantFound: false},
		{name: "by name", lookup: func(t *testing.T) (cloudflare.Service, bool) { return mustByName(t, inv, accountA, cl, "db") }, wantFound: true, wantID: "id-2"},
		{name: "by missing name", lookup: func(t *testing.T) (cloudflare.Service, bool) { return mustByName(t, inv, accountA, cl, "cache") }, wantFound: false},
		{name: "by name again", lookup: func(t *testing.T) (cloudflare.Service, bool) { return mustByName(t, inv, accountA, cl, "web") }, wantFound: true, wantID: "id-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, found := tt.lookup(t)
			if found != tt.wantFound {
				t.Fatalf("found = %v, want %v", found, tt.wantFound)
			}
			if found && got.ID != tt.wantID {
				t.Errorf("got service %q, want %q", got.ID, tt.wantID)
			}
		})
	}
	if got := cl.lists.Load(); got != 1 {
		t.Errorf("List called %d times for %d lookups within maxAge, want 1", got, len(tests))
	}
}

func TestSnapshotAge(t *testing.T) {
	tests := []struct {
		name      string
		age       time.Duration
		wantLists int32
	}{
		{name: "just fetched", age: 0, wantLists: 1},
		{name: "just under maxAge", age: maxAge - time.Nanosecond, wantLists: 1},
		{name: "exactly maxAge", age: maxAge, wantLists: 2},
		{name: "older than maxAge", age: maxAge + time.Minute, wantLists: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := newFakeClient(svc("id-1", "web"))
			c := newClock()
			inv := newInventory(c)
			mustByID(t, inv, accountA, cl, "id-1")

			c.Advance(tt.age)
			mustByID(t, inv, accountA, cl, "id-1")
			if got := cl.lists.Load(); got != tt.wantLists {
				t.Errorf("List called %d times, want %d", got, tt.wantLists)
			}
		})
	}
}

func TestRefreshSeesRemoteChanges(t *testing.T) {
	cl := newFakeClient(svc("id-1", "web"))
	c := newClock()
	inv := newInventory(c)
	if _, found := mustByID(t, inv, accountA, cl, "id-1"); !found {
		t.Fatal("id-1 not found in the first list")
	}

	cl.set([]cloudflare.Service{svc("id-2", "db")}, nil)
	if _, found := mustByID(t, inv, accountA, cl, "id-1"); !found {
		t.Error("id-1 gone from a fresh snapshot: the snapshot was listed again within maxAge")
	}

	c.Advance(maxAge)
	if _, found := mustByID(t, inv, accountA, cl, "id-1"); found {
		t.Error("id-1 still found after a refresh that no longer lists it")
	}
	if got, found := mustByName(t, inv, accountA, cl, "db"); !found || got.ID != "id-2" {
		t.Errorf("ByName(db) = %+v, %v after the refresh, want id-2", got, found)
	}
	if got := cl.lists.Load(); got != 2 {
		t.Errorf("List called %d times, want 2", got)
	}
}

func TestConcurrentLookupsOfAStaleSnapshotListOnce(t *testing.T) {
	cl := newFakeClient(svc("id-1", "web"), svc("id-2", "db"))
	c := newClock()
	inv := newInventory(c)
	mustByID(t, inv, accountA, cl, "id-1")
	c.Advance(maxAge + time.Second)

	// A slow List, and lookups released together, so every lookup finds the snapshot stale.
	cl.delay = 50 * time.Millisecond
	const workers = 20
	start := make(chan struct{})
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			<-start
			var found bool
			var err error
			if i%2 == 0 {
				_, found, err = inv.ByID(context.Background(), accountA, cl, "id-2", maxAge)
			} else {
				_, found, err = inv.ByName(context.Background(), accountA, cl, "db", maxAge)
			}
			if err == nil && !found {
				err = errors.New("service not found")
			}
			errs <- err
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("lookup: %v", err)
		}
	}

	if got := cl.lists.Load(); got != 2 {
		t.Errorf("List called %d times, want 2: the first fill and ONE refresh for %d concurrent lookups", got, workers)
	}
}

func TestAccountsHaveTheirOwnSnapshot(t *testing.T) {
	clA := newFakeClient(svc("id-a", "web"))
	clB := newFakeClient(svc("id-b", "web"))
	inv := newInventory(newClock())

	if got, found := mustByName(t, inv, accountA, clA, "web"); !found || got.ID != "id-a" {
		t.Errorf("account A ByName(web) = %q, %v, want id-a", got.ID, found)
	}
	if got, found := mustByName(t, inv, accountB, clB, "web"); !found || got.ID != "id-b" {
		t.Errorf("account B ByName(web) = %q, %v, want id-b", got.ID, found)
	}
	if _, found := mustByID(t, inv, accountB, clB, "id-a"); found {
		t.Error("account B sees account A's service")
	}
	if a, b := clA.lists.Load(), clB.lists.Load(); a != 1 || b != 1 {
		t.Errorf("List calls: account A %d, account B %d, want 1 each", a, b)
	}
}

func TestPutAndForget(t *testing.T) {
	tests := []struct {
		name       string
		edit       func(inv *inventory.Inventory)
		lookupID   string
		lookupName string
		wantFound  bool
		wantName   string
	}{
		{
			name:     "put a new service is found by id",
			edit:     func(inv *inventory.Inventory) { inv.Put(accountA, svc("id-new", "cache")) },
			lookupID: "id-new", wantFound: true, wantName: "cache",
		},
		{
			name:       "put a new service is found by name",
			edit:       func(inv *inventory.Inventory) { inv.Put(accountA, svc("id-new", "cache")) },
			lookupName: "cache", wantFound: true, wantName: "cache",
		},
		{
			name:     "put replaces a listed service",
			edit:     func(inv *inventory.Inventory) { inv.Put(accountA, svc("id-1", "web-renamed")) },
			lookupID: "id-1", wantFound: true, wantName: "web-renamed",
		},
		{
			name:       "put of a rename drops the old name",
			edit:       func(inv *inventory.Inventory) { inv.Put(accountA, svc("id-1", "web-renamed")) },
			lookupName: "web", wantFound: false,
		},
		{
			name:     "forget drops a listed service by id",
			edit:     func(inv *inventory.Inventory) { inv.Forget(accountA, "id-1") },
			lookupID: "id-1", wantFound: false,
		},
		{
			name:       "forget drops a listed service by name",
			edit:       func(inv *inventory.Inventory) { inv.Forget(accountA, "id-1") },
			lookupName: "web", wantFound: false,
		},
		{
			name:     "forget leaves the other services",
			edit:     func(inv *inventory.Inventory) { inv.Forget(accountA, "id-1") },
			lookupID: "id-2", wantFound: true, wantName: "db",
		},
		{
			name:     "forget of an unknown id is harmless",
			edit:     func(inv *inventory.Inventory) { inv.Forget(accountA, "id-unknown") },
			lookupID: "id-1", wantFound: true, wantName: "web",
		},
		{
			name:     "put into another account does not leak",
			edit:     func(inv *inventory.Inventory) { inv.Put(accountB, svc("id-new", "cache")) },
			lookupID: "id-new", wantFound: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := newFakeClient(svc("id-1", "web"), svc("id-2", "db"))
			inv := newInventory(newClock())
			mustByID(t, inv, accountA, cl, "id-1")

			tt.edit(inv)

			var got cloudflare.Service
			var found bool
			if tt.lookupName != "" {
				got, found = mustByName(t, inv, accountA, cl, tt.lookupName)
			} else {
				got, found = mustByID(t, inv, accountA, cl, tt.lookupID)
			}
			if found != tt.wantFound {
				t.Fatalf("found = %v, want %v", found, tt.wantFound)
			}
			if found && got.Name != tt.wantName {
				t.Errorf("found service named %q, want %q", got.Name, tt.wantName)
			}
			if n := cl.lists.Load(); n != 1 {
				t.Errorf("List called %d times, want 1: Put and Forget must be visible without a list", n)
			}
		})
	}
}

func TestPutBeforeAnyListIsReplacedByTheList(t *testing.T) {
	cl := newFakeClient(svc("id-1", "web"))
	inv := newInventory(newClock())

	// With no snapshot yet the next lookup lists anyway; the list is the truth.
	inv.Put(accountA, svc("id-2", "db"))
	inv.Forget(accountA, "id-1")

	if _, found := mustByID(t, inv, accountA, cl, "id-1"); !found {
		t.Error("id-1 not found: a Forget before the first list must not hide a listed service")
	}
	if got := cl.lists.Load(); got != 1 {
		t.Errorf("List called %d times, want 1", got)
	}
}

func TestListErrors(t *testing.T) {
	tests := []struct {
		name   string
		lookup func(inv *inventory.Inventory, cl inventory.Lister) error
	}{
		{
			name: "by id",
			lookup: func(inv *inventory.Inventory, cl inventory.Lister) error {
				_, _, err := inv.ByID(context.Background(), accountA, cl, "id-1", maxAge)
				return err
			},
		},
		{
			name: "by name",
			lookup: func(inv *inventory.Inventory, cl inventory.Lister) error {
				_, _, err := inv.ByName(context.Background(), accountA, cl, "web", maxAge)
				return err
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name+" on an empty inventory", func(t *testing.T) {
			cl := newFakeClient()
			cl.set(nil, cloudflare.ErrRateLimited)
			inv := newInventory(newClock())

			if err := tt.lookup(inv, cl); !errors.Is(err, cloudflare.ErrRateLimited) {
				t.Fatalf("lookup error = %v, want the List error (ErrRateLimited)", err)
			}
			// The failure is not cached: the next lookup lists again, and succeeds.
			cl.set([]cloudflare.Service{svc("id-1", "web")}, nil)
			if err := tt.lookup(inv, cl); err != nil {
				t.Fatalf("lookup after List recovered: %v", err)
			}
			if got := cl.lists.Load(); got != 2 {
				t.Errorf("List called %d times, want 2", got)
			}
		})

		t.Run(tt.name+" on a stale snapshot", func(t *testing.T) {
			cl := newFakeClient(svc("id-1", "web"))
			c := newClock()
			inv := newInventory(c)
			if err := tt.lookup(inv, cl); err != nil {
				t.Fatalf("first lookup: %v", err)
			}
			c.Advance(maxAge)

			cl.set(nil, cloudflare.ErrTransient)
			if err := tt.lookup(inv, cl); !errors.Is(err, cloudflare.ErrTransient) {
				t.Fatalf("lookup error = %v, want the List error (ErrTransient), not the stale snapshot", err)
			}
			if err := tt.lookup(inv, cl); !errors.Is(err, cloudflare.ErrTransient) {
				t.Fatalf("second lookup error = %v, want List tried again and its error", err)
			}
			if got := cl.lists.Load(); got != 3 {
				t.Errorf("List called %d times, want 3: a failed refresh must not count as fresh", got)
			}
		})
	}
}

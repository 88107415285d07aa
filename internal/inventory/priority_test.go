package inventory_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/workersvpc/connectivity-operator/internal/cloudflare"
	"github.com/workersvpc/connectivity-operator/internal/inventory"
	"github.com/workersvpc/connectivity-operator/internal/ratelimit"
)

// gatedClient holds periodic observation's (Low) list calls until the gate opens, as a budget
// wait for the reserve would; a user's (High) calls go through.
type gatedClient struct {
	*fakeClient
	gate   chan struct{}
	parked chan struct{}
}

func (g *gatedClient) List(ctx context.Context) ([]cloudflare.Service, error) {
	if ratelimit.PriorityOf(ctx) == ratelimit.Low {
		g.parked <- struct{}{}
		select {
		case <-g.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return g.fakeClient.List(ctx)
}

// A user's create check is not held behind observation of the same account waiting for budget.
func TestUserLookupDoesNotWaitBehindObservation(t *testing.T) {
	inv := inventory.New()
	cl := &gatedClient{fakeClient: newFakeClient(cloudflare.Service{ID: "s1", Name: "web"}),
		gate: make(chan struct{}), parked: make(chan struct{}, 1)}
	defer close(cl.gate)

	observed := make(chan error, 1)
	go func() {
		low := ratelimit.WithPriority(context.Background(), ratelimit.Low)
		_, _, err := inv.ByID(low, accountA, cl, "s1", maxAge)
		observed <- err
	}()
	<-cl.parked

	type lookup struct {
		svc   cloudflare.Service
		found bool
		err   error
	}
	answered := make(chan lookup, 1)
	go func() {
		svc, found, err := inv.ByName(context.Background(), accountA, cl, "web", time.Second)
		answered <- lookup{svc, found, err}
	}()
	select {
	case got := <-answered:
		if got.err != nil || !got.found || got.svc.ID != "s1" {
			t.Fatalf("user lookup = %+v; want service s1", got)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the user's lookup waited behind observation's list")
	}
	select {
	case err := <-observed:
		t.Fatalf("observation finished (%v) before its gate opened", err)
	default:
	}
}

// After a failed list, observation does not list again until the hold passes, so a thousand
// Ready objects of the account do not each retry it; a user's lookup still may.
func TestFailedListHoldsObservationBack(t *testing.T) {
	inv := inventory.New()
	cl := newFakeClient()
	cl.set(nil, errors.New("502 from the edge"))
	low := ratelimit.WithPriority(context.Background(), ratelimit.Low)
	for range 5 {
		if _, _, err := inv.ByID(low, accountA, cl, "s1", maxAge); err == nil {
			t.Fatal("ByID succeeded with a failing list")
		}
	}
	if n := cl.lists.Load(); n != 1 {
		t.Fatalf("%d list calls for 5 observations of a failing account, want 1", n)
	}
	cl.set([]cloudflare.Service{{ID: "s1", Name: "web"}}, nil)
	if _, found, err := inv.ByName(context.Background(), accountA, cl, "web", time.Second); err != nil || !found {
		t.Fatalf("user lookup after a failed list = %v, %v; want it to list again", found, err)
	}
}

package ownership

import (
	"context"
	"errors"
	"sync"
	"testing"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

const ns = "operator-system"

var (
	key   = Key{Kind: "service", AccountID: "acct-1", Name: "web"}
	alice = Holder{UID: "uid-alice", Namespace: "shop", Name: "web"}
	bob   = Holder{UID: "uid-bob", Namespace: "blog", Name: "web"}
)

// world is a fake API server and the set of holders that exist in it.
type world struct {
	client client.WithWatch
	alive  map[types.UID]bool
	mu     sync.Mutex
}

func newWorld(t *testing.T, funcs *interceptor.Funcs) *world {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(scheme).Build()
	if funcs != nil {
		c = interceptor.NewClient(c, *funcs)
	}
	return &world{client: c, alive: map[types.UID]bool{alice.UID: true, bob.UID: true}}
}

func (w *world) reservations() *Reservations {
	return &Reservations{Client: w.client, Reader: w.client, Namespace: ns, Exists: w.exists}
}

func (w *world) exists(_ context.Context, h Holder) (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.alive[h.UID], nil
}

func (w *world) kill(h Holder) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.alive, h.UID)
}

// holderOfLease reads who holds key, "" when nobody.
func (w *world) holderOfLease(t *testing.T, k Key) types.UID {
	t.Helper()
	var l coordinationv1.Lease
	if err := w.client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: k.LeaseName()}, &l); err != nil {
		return ""
	}
	return holderOf(&l).UID
}

// TestReserve is the conflict table: who gets a name.
func TestReserve(t *testing.T) {
	restored := Holder{UID: "uid-alice-restored", Namespace: alice.Namespace, Name: alice.Name}
	cases := []struct {
		name string
		// setup runs before the reservation under test, with a fresh Reservations (a fresh process).
		setup    func(w *world)
		who      Holder
		wantHeld *Holder
		wantUID  types.UID
	}{
		{name: "a free name", setup: func(*world) {}, who: alice, wantUID: alice.UID},
		{name: "a name it holds already", setup: func(w *world) { mustReserve(w, key, alice) }, who: alice, wantUID: alice.UID},
		{name: "a name another live object holds", setup: func(w *world) { mustReserve(w, key, alice) },
			who: bob, wantHeld: &alice, wantUID: alice.UID},
		{name: "a name whose holder is gone", setup: func(w *world) { mustReserve(w, key, alice); w.kill(alice) },
			who: bob, wantUID: bob.UID},
		{name: "its own name after a restore gave it a new UID", setup: func(w *world) {
			mustReserve(w, key, alice)
			w.kill(alice)
			w.alive[restored.UID] = true
		}, who: restored, wantUID: restored.UID},
		{name: "another account's same name is another name", setup: func(w *world) {
			mustReserve(w, Key{Kind: "service", AccountID: "acct-2", Name: "web"}, alice)
		}, who: bob, wantUID: bob.UID},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t, nil)
			c.setup(w)
			err := w.reservations().Reserve(context.Background(), key, c.who)
			held, isHeld := IsHeld(err)
			switch {
			case c.wantHeld != nil && (!isHeld || held.Holder != *c.wantHeld):
				t.Fatalf("Reserve = %v, want held by %v", err, c.wantHeld)
			case c.wantHeld == nil && err != nil:
				t.Fatalf("Reserve = %v, want nil", err)
			}
			if got := w.holderOfLease(t, key); got != c.wantUID {
				t.Errorf("holder = %q, want %q", got, c.wantUID)
			}
		})
	}
}

func mustReserve(w *world, k Key, h Holder) {
	if err := w.reservations().Reserve(context.Background(), k, h); err != nil {
		panic(err)
	}
}

// TestReserveRace: many objects reserve one name at once, each in its own process; one wins.
func TestReserveRace(t *testing.T) {
	w := newWorld(t, nil)
	holders := make([]Holder, 8)
	for i := range holders {
		holders[i] = Holder{UID: types.UID("uid-" + string(rune('a'+i))), Namespace: "ns", Name: string(rune('a' + i))}
		w.alive[holders[i].UID] = true
	}
	var wg sync.WaitGroup
	errs := make([]error, len(holders))
	for i, h := range holders {
		wg.Go(func() { errs[i] = w.reservations().Reserve(context.Background(), key, h) })
	}
	wg.Wait()
	winners := 0
	for i, err := range errs {
		if err == nil {
			winners++
			if got := w.holderOfLease(t, key); got != holders[i].UID {
				t.Errorf("winner %s does not hold the Lease (%s does)", holders[i].UID, got)
			}
		} else if _, ok := IsHeld(err); !ok {
			t.Errorf("loser got %v, want a HeldError", err)
		}
	}
	if winners != 1 {
		t.Errorf("%d winners, want 1", winners)
	}
}

// TestReclaimRace: two objects reclaim the Lease of a gone holder at once; the optimistic lock
// lets one win and the other sees it as held.
func TestReclaimRace(t *testing.T) {
	var w *world
	raced := false
	w = newWorld(t, &interceptor.Funcs{Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
		if !raced {
			raced = true
			// bob's reclaim lands between alice-restored's read and write.
			if err := (&Reservations{Client: c, Reader: c, Namespace: ns, Exists: w.exists}).Reserve(ctx, key, bob); err != nil {
				return err
			}
		}
		return c.Update(ctx, obj, opts...)
	}})
	mustReserve(w, key, alice)
	w.kill(alice)
	other := Holder{UID: "uid-carol", Namespace: "x", Name: "web"}
	w.alive[other.UID] = true
	err := w.reservations().Reserve(context.Background(), key, other)
	if held, ok := IsHeld(err); !ok || held.Holder.UID != bob.UID {
		t.Fatalf("Reserve = %v, want held by bob", err)
	}
	if got := w.holderOfLease(t, key); got != bob.UID {
		t.Errorf("holder = %q, want bob", got)
	}
}

func TestRelease(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, nil)
	r := w.reservations()
	old := Key{Kind: "service", AccountID: "acct-1", Name: "web-old"}
	other := Key{Kind: "service", AccountID: "acct-2", Name: "web"}
	for _, k := range []Key{key, old, other} {
		mustReserve(w, k, alice)
	}

	if err := r.Release(ctx, key, bob); err != nil || w.holderOfLease(t, key) != alice.UID {
		t.Fatalf("a non-holder's release changed the reservation: %v", err)
	}
	if err := r.ReleaseAll(ctx, alice, "acct-1", key); err != nil {
		t.Fatal(err)
	}
	if w.holderOfLease(t, old) != "" || w.holderOfLease(t, key) != alice.UID || w.holderOfLease(t, other) != alice.UID {
		t.Fatal("ReleaseAll of one account with a kept key released the wrong reservations")
	}
	if err := r.ReleaseAll(ctx, alice, ""); err != nil {
		t.Fatal(err)
	}
	if w.holderOfLease(t, key) != "" || w.holderOfLease(t, other) != "" {
		t.Fatal("ReleaseAll of every account left a reservation")
	}
	if err := r.Release(ctx, key, alice); err != nil {
		t.Fatalf("releasing a reservation already gone: %v", err)
	}
	if err := r.Reserve(ctx, key, bob); err != nil {
		t.Fatalf("a released name is free again: %v", err)
	}
}

func TestHeldErrorSaysWho(t *testing.T) {
	err := error(&HeldError{Key: key, Holder: alice})
	if _, ok := IsHeld(errors.Join(errors.New("context"), err)); !ok {
		t.Fatal("IsHeld does not see a wrapped HeldError")
	}
	if got := err.Error(); got != `the name "web" in Cloudflare account acct-1 is reserved by shop/web` {
		t.Errorf("message = %q", got)
	}
}

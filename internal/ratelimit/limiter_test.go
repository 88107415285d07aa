package ratelimit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/workersvpc/connectivity-operator/internal/ratelimit"
)

// Budgets in calls per BudgetWindow (5 minutes), chosen so tests are quick and unambiguous.
const (
	// onePerSecond refills so slowly that a probe with a short deadline never waits for a token.
	onePerSecond = 300
	// twentyPerSecond refills one token every 50ms, so waiting for one is quick to observe.
	twentyPerSecond = 6000
)

// probeDeadline bounds one probe. It is far shorter than a token of onePerSecond takes to refill,
// so a probe succeeds only when a token is already in the bucket.
const probeDeadline = 20 * time.Millisecond

// tryTake takes one token if the bucket holds one now, without waiting for a refill: the
// underlying token bucket refuses at once a wait that would outlast the context's deadline.
func tryTake(t *testing.T, l *ratelimit.Limiter, p ratelimit.Priority) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(ratelimit.WithPriority(context.Background(), p), probeDeadline)
	defer cancel()
	_, err := l.Wait(ctx)
	return err == nil
}

// available counts the High calls the bucket lets through at once (up to limit), spending them.
func available(t *testing.T, l *ratelimit.Limiter, limit int) int {
	t.Helper()
	n := 0
	for n < limit && tryTake(t, l, ratelimit.High) {
		n++
	}
	return n
}

func TestLimiterBurst(t *testing.T) {
	tests := []struct {
		name  string
		burst int
	}{
		{name: "burst of one", burst: 1},
		{name: "burst of three", burst: 3},
		{name: "burst of ten", burst: 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := ratelimit.NewLimiter(onePerSecond, tt.burst)
			if got := available(t, l, 2*tt.burst+5); got != tt.burst {
				t.Errorf("calls let through at once = %d, want the burst %d", got, tt.burst)
			}
		})
	}
}

func TestLimiterWaitsForRateAfterBurst(t *testing.T) {
	l := ratelimit.NewLimiter(twentyPerSecond, 2)
	for i := range 2 {
		if _, err := l.Wait(context.Background()); err != nil {
			t.Fatalf("call %d of the burst: %v", i+1, err)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	waited, err := l.Wait(ctx)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("call after the burst: %v", err)
	}
	// One token every 50ms; allow for the time spent since the burst.
	if elapsed < 30*time.Millisecond {
		t.Errorf("call after the burst went out after %v, want it to wait about 50ms for a token", elapsed)
	}
	if waited < 30*time.Millisecond || waited > elapsed {
		t.Errorf("Wait reported %v, want the time it blocked (~%v)", waited, elapsed)
	}
}

func TestLimiterWaitHonoursContext(t *testing.T) {
	l := ratelimit.NewLimiter(onePerSecond, 1)
	if !tryTake(t, l, ratelimit.High) {
		t.Fatal("first call of the burst was refused")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Wait(ctx); err == nil {
		t.Error("Wait with a cancelled context and an empty bucket returned nil, want an error")
	}
}

func TestLimiterSetLimit(t *testing.T) {
	tests := []struct {
		name          string
		perWindow     int
		burst         int
		wantAvailable int
	}{
		{name: "same limit keeps the spent bucket", perWindow: onePerSecond, burst: 2, wantAvailable: 0},
		{name: "larger burst does not refill the bucket", perWindow: onePerSecond, burst: 5, wantAvailable: 0},
		{name: "smaller burst does not refill the bucket", perWindow: onePerSecond, burst: 1, wantAvailable: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := ratelimit.NewLimiter(onePerSecond, 2)
			if got := available(t, l, 10); got != 2 {
				t.Fatalf("initial burst = %d, want 2", got)
			}
			l.SetLimit(tt.perWindow, tt.burst)
			if got := available(t, l, 10); got != tt.wantAvailable {
				t.Errorf("after SetLimit(%d, %d) %d calls went out at once, want %d: SetLimit must keep what was spent",
					tt.perWindow, tt.burst, got, tt.wantAvailable)
			}
		})
	}
}

func TestLimiterSetLimitChangesRateAndBurst(t *testing.T) {
	l := ratelimit.NewLimiter(onePerSecond, 1)
	if !tryTake(t, l, ratelimit.High) {
		t.Fatal("first call of the burst was refused")
	}
	if tryTake(t, l, ratelimit.High) {
		t.Fatal("second call went out at once at one call per second")
	}

	// At 20 calls per second the next token is at most 50ms away.
	l.SetLimit(twentyPerSecond, 3)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := l.Wait(ctx); err != nil {
		t.Fatalf("after raising the rate, Wait = %v, want a token within 50ms", err)
	}

	// The new burst applies once the bucket has refilled: 3 tokens take 150ms at 20 per second.
	time.Sleep(200 * time.Millisecond)
	if got := available(t, l, 10); got != 3 {
		t.Errorf("after refilling, %d calls went out at once, want the new burst 3", got)
	}
}

// TestLimiterPerWindow checks the budget the metrics report: the configured calls per 5 minutes,
// exactly (no float residue), after SetLimit too.
func TestLimiterPerWindow(t *testing.T) {
	l := ratelimit.NewLimiter(1000, 20)
	if got := l.PerWindow(); got != 1000 {
		t.Errorf("PerWindow = %d, want 1000", got)
	}
	l.SetLimit(7, 1)
	if got := l.PerWindow(); got != 7 {
		t.Errorf("after SetLimit(7, 1) PerWindow = %d, want 7", got)
	}
}

func TestLimiterTrip(t *testing.T) {
	now := time.Now()
	later := now.Add(time.Hour)
	sooner := now.Add(time.Minute)
	past := now.Add(-time.Minute)

	tests := []struct {
		name      string
		trips     []time.Time
		wantOpen  bool
		wantUntil time.Time
	}{
		{name: "never tripped is closed", trips: nil, wantOpen: false},
		{name: "tripped until later is open", trips: []time.Time{later}, wantOpen: true, wantUntil: later},
		{name: "tripped until a past time is closed", trips: []time.Time{past}, wantOpen: false, wantUntil: past},
		{name: "a shorter trip does not shorten an open circuit", trips: []time.Time{later, sooner}, wantOpen: true, wantUntil: later},
		{name: "a longer trip extends an open circuit", trips: []time.Time{sooner, later}, wantOpen: true, wantUntil: later},
		{name: "a past trip does not close an open circuit", trips: []time.Time{later, past}, wantOpen: true, wantUntil: later},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := ratelimit.NewLimiter(onePerSecond, 1)
			for _, until := range tt.trips {
				l.Trip(until)
			}
			until, open := l.OpenUntil()
			if open != tt.wantOpen {
				t.Errorf("OpenUntil() open = %v, want %v", open, tt.wantOpen)
			}
			if !until.Equal(tt.wantUntil) {
				t.Errorf("OpenUntil() until = %v, want %v", until, tt.wantUntil)
			}
		})
	}
}

// With a burst of 4 the reserve is 2: Low calls go out while the bucket holds more than 2 tokens
// and wait at or below that, while High calls spend the reserve.
func TestLimiterLowPriorityLeavesTheReserveToHigh(t *testing.T) {
	l := ratelimit.NewLimiter(onePerSecond, 4)

	for i := range 2 {
		if !tryTake(t, l, ratelimit.Low) {
			t.Fatalf("Low call %d with %d tokens in the bucket was held, want it through", i+1, 4-i)
		}
	}

	// 2 tokens left: at the reserve. Low waits (here until its deadline), and spends nothing.
	ctx, cancel := context.WithTimeout(ratelimit.WithPriority(context.Background(), ratelimit.Low), 50*time.Millisecond)
	defer cancel()
	if _, err := l.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Low call at the reserve: Wait = %v, want it held until its deadline (context.DeadlineExceeded)", err)
	}

	// High calls still go through, spending the reserve.
	if got := available(t, l, 10); got != 2 {
		t.Errorf("High calls let through at the reserve = %d, want the 2 reserved tokens", got)
	}
}

func TestLimiterLowPriorityGoesOnceBucketRefillsAboveReserve(t *testing.T) {
	l := ratelimit.NewLimiter(twentyPerSecond, 4)
	for range 2 {
		if !tryTake(t, l, ratelimit.High) {
			t.Fatal("High call within the burst was refused")
		}
	}

	// 2 tokens, at the reserve: Low needs one more, 50ms away at 20 per second.
	ctx, cancel := context.WithTimeout(ratelimit.WithPriority(context.Background(), ratelimit.Low), 2*time.Second)
	defer cancel()
	waited, err := l.Wait(ctx)
	if err != nil {
		t.Fatalf("Low call: Wait = %v, want it through once the bucket refilled", err)
	}
	if waited < 30*time.Millisecond {
		t.Errorf("Low call at the reserve waited %v, want it to wait about 50ms for the bucket to refill", waited)
	}
}

func TestUnmarkedContextIsHighPriority(t *testing.T) {
	l := ratelimit.NewLimiter(onePerSecond, 2)
	// Low would stop at the reserve of 1; an unmarked context spends the whole burst.
	ctx, cancel := context.WithTimeout(context.Background(), probeDeadline)
	defer cancel()
	for i := range 2 {
		if _, err := l.Wait(ctx); err != nil {
			t.Fatalf("unmarked call %d: Wait = %v, want it through like a High call", i+1, err)
		}
	}
}

// A burst of 1 leaves no room for a reserve: Low calls must still go out on a full bucket, or
// periodic observation of that credential would stop (the CRD and --cloudflare-burst allow 1).
func TestLimiterLowPriorityGoesWithBurstOne(t *testing.T) {
	l := ratelimit.NewLimiter(twentyPerSecond, 1)

	ctx, cancel := context.WithTimeout(ratelimit.WithPriority(context.Background(), ratelimit.Low), 100*time.Millisecond)
	defer cancel()
	if _, err := l.Wait(ctx); err != nil {
		t.Fatalf("Low call on a full bucket of burst 1: Wait = %v, want it to go out (no reserve is possible)", err)
	}
}

func TestRegistryFor(t *testing.T) {
	r := ratelimit.NewRegistry(onePerSecond, 2)

	a := r.For("cred-a", "acct", 0, 0)
	if again := r.For("cred-a", "acct", 0, 0); again != a {
		t.Error("For returned a new limiter for the same key, want the shared one")
	}
	if b := r.For("cred-b", "acct", 0, 0); b == a {
		t.Error("For returned the same limiter for different keys")
	}
}

func TestRegistryForAppliesBurst(t *testing.T) {
	tests := []struct {
		name      string
		perWindow int
		burst     int
		want      int
	}{
		{name: "zero values take the default burst", perWindow: 0, burst: 0, want: 2},
		{name: "negative values take the default burst", perWindow: -1, burst: -1, want: 2},
		{name: "an override burst", perWindow: onePerSecond, burst: 5, want: 5},
		{name: "an override rate keeps the default burst", perWindow: onePerSecond, burst: 0, want: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ratelimit.NewRegistry(onePerSecond, 2)
			l := r.For("cred", "acct", tt.perWindow, tt.burst)
			if got := available(t, l, 20); got != tt.want {
				t.Errorf("For(%d, %d) let %d calls through at once, want %d", tt.perWindow, tt.burst, got, tt.want)
			}
		})
	}
}

func TestRegistryForAppliesRateOverride(t *testing.T) {
	r := ratelimit.NewRegistry(onePerSecond, 1)
	l := r.For("cred", "acct", twentyPerSecond, 0)
	if !tryTake(t, l, ratelimit.High) {
		t.Fatal("first call of the burst was refused")
	}
	// At the default one call per second the next token would be a second away.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, err := l.Wait(ctx); err != nil {
		t.Errorf("Wait = %v, want a token within 50ms at the overridden 20 calls per second", err)
	}
}

func TestRegistryForOverridesAnExistingLimiterInPlace(t *testing.T) {
	r := ratelimit.NewRegistry(onePerSecond, 2)
	l := r.For("cred", "acct", 0, 0)
	if got := available(t, l, 10); got != 2 {
		t.Fatalf("default burst = %d, want 2", got)
	}

	again := r.For("cred", "acct", onePerSecond, 10)
	if again != l {
		t.Fatal("an override replaced the credential's limiter, want it changed in place")
	}
	if got := available(t, again, 20); got != 0 {
		t.Errorf("after an override %d calls went out at once, want 0: the spent budget must carry over", got)
	}

	// A rate override reaches the existing limiter too: at the default one call per second the
	// next token would be a second away, at 20 per second it is at most 50ms away.
	r.For("cred", "acct", twentyPerSecond, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, err := l.Wait(ctx); err != nil {
		t.Errorf("Wait = %v, want a token within 50ms at the overridden 20 calls per second", err)
	}
}

func TestRegistryKeysAreIndependent(t *testing.T) {
	r := ratelimit.NewRegistry(onePerSecond, 2)
	a, b := r.For("cred-a", "acct", 0, 0), r.For("cred-b", "acct", 0, 0)

	if got := available(t, a, 10); got != 2 {
		t.Fatalf("cred-a burst = %d, want 2", got)
	}
	a.Trip(time.Now().Add(time.Hour))

	if got := available(t, b, 10); got != 2 {
		t.Errorf("cred-b let %d calls through after cred-a spent its budget, want its own 2", got)
	}
	if _, open := b.OpenUntil(); open {
		t.Error("tripping cred-a opened cred-b's circuit")
	}
}

func TestRegistryOpenCircuits(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name  string
		trips map[string]time.Time
		want  int
	}{
		{name: "none tripped", trips: map[string]time.Time{}, want: 0},
		{name: "one open", trips: map[string]time.Time{"a": now.Add(time.Hour)}, want: 1},
		{name: "a past trip is closed", trips: map[string]time.Time{"a": now.Add(-time.Second)}, want: 0},
		{
			name:  "two open of three",
			trips: map[string]time.Time{"a": now.Add(time.Hour), "b": now.Add(time.Minute), "c": now.Add(-time.Minute)},
			want:  2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ratelimit.NewRegistry(onePerSecond, 2)
			for _, key := range []string{"a", "b", "c"} {
				l := r.For(key, "acct", 0, 0)
				if until, ok := tt.trips[key]; ok {
					l.Trip(until)
				}
			}
			if got := r.OpenCircuits(); got != tt.want {
				t.Errorf("OpenCircuits() = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestRegistrySharedCredentialTakesTheLowestOverride(t *testing.T) {
	r := ratelimit.NewRegistry(twentyPerSecond, 10)
	l := r.For("cred", "account-a", 0, 8)
	if got := available(t, l, 20); got != 8 {
		t.Fatalf("burst = %d, want account-a's 8", got)
	}
	// account-b shares the token with a lower burst; account-a coming back must not raise it.
	r2 := ratelimit.NewRegistry(twentyPerSecond, 10)
	r2.For("cred", "account-a", 0, 8)
	r2.For("cred", "account-b", 0, 3)
	shared := r2.For("cred", "account-a", 0, 8)
	if got := available(t, shared, 20); got != 3 {
		t.Errorf("burst = %d, want the lower override of the two accounts sharing the token (3)", got)
	}
}

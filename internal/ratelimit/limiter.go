// Package ratelimit keeps the operator inside Cloudflare's API budget: 1,200 calls per 5 minutes
// per token, shared with every other client of that token, where going over blocks every call of
// the token for 5 minutes. Each credential gets one token bucket shared by all workers and
// objects that use it, a circuit breaker that holds every call after a 429, and a reserve that
// keeps periodic observation from starving the writes users asked for.
package ratelimit

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// BudgetWindow is the window Cloudflare's budget is counted over.
const BudgetWindow = 5 * time.Minute

// DefaultBlock is how long Cloudflare blocks a token that went over, and so how long the circuit
// stays open after a 429 without Retry-After.
const DefaultBlock = 5 * time.Minute

// Priority orders calls of one credential when the bucket runs low.
type Priority int

const (
	// High is for work users asked for: creates, updates, deletes and resolving unknown outcomes.
	High Priority = iota
	// Low is for periodic observation, which only uses what High leaves.
	Low
)

type priorityKey struct{}

// WithPriority marks the calls made with ctx; unmarked calls are High.
func WithPriority(ctx context.Context, p Priority) context.Context {
	return context.WithValue(ctx, priorityKey{}, p)
}

// PriorityOf is the priority of the calls made with ctx.
func PriorityOf(ctx context.Context) Priority {
	if p, ok := ctx.Value(priorityKey{}).(Priority); ok {
		return p
	}
	return High
}

// DefaultMaxWait is the longest a call of a Registry's limiters waits for the budget. A longer
// wait is answered at once (see WaitTooLongError), so one credential short of budget never holds
// the reconcile workers that every other account needs: the object comes back later instead.
const DefaultMaxWait = 2 * time.Second

// WaitTooLongError says the budget has no room for a call within the limiter's longest wait.
type WaitTooLongError struct {
	// Wait is how long the call would have had to wait.
	Wait time.Duration
}

func (e *WaitTooLongError) Error() string {
	return fmt.Sprintf("the credential's API budget has no room for %s", e.Wait.Round(time.Millisecond))
}

// Limiter is the budget of one credential.
type Limiter struct {
	bucket *rate.Limiter
	now    func() time.Time
	// maxWait bounds a wait for the budget; zero waits as long as it takes.
	maxWait time.Duration

	mu        sync.Mutex
	openUntil time.Time
}

// NewLimiter allows perWindow calls per BudgetWindow with the given burst.
func NewLimiter(perWindow, burst int) *Limiter {
	return &Limiter{bucket: rate.NewLimiter(perSecond(perWindow), burst), now: time.Now}
}

func perSecond(perWindow int) rate.Limit {
	return rate.Limit(float64(perWindow) / BudgetWindow.Seconds())
}

// SetLimit changes the budget in place, so an account's override takes effect without losing
// what was already spent.
func (l *Limiter) SetLimit(perWindow, burst int) {
	if l.bucket.Limit() != perSecond(perWindow) {
		l.bucket.SetLimit(perSecond(perWindow))
	}
	if l.bucket.Burst() != burst {
		l.bucket.SetBurst(burst)
	}
}

// PerWindow is the number of calls per BudgetWindow the budget allows now, for the metrics.
func (l *Limiter) PerWindow() int {
	return int(math.Round(float64(l.bucket.Limit()) * BudgetWindow.Seconds()))
}

// Trip opens the circuit until the given time: no call of this credential goes out before then.
func (l *Limiter) Trip(until time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if until.After(l.openUntil) {
		l.openUntil = until
	}
}

// OpenUntil reports when an open circuit closes; ok is false when it is closed.
func (l *Limiter) OpenUntil() (until time.Time, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.openUntil, l.now().Before(l.openUntil)
}

// reserve is the share of the burst that Low calls leave untouched for High ones: half of it,
// and never all of it, or a burst of 1 would hold Low calls forever.
func (l *Limiter) reserve() float64 {
	burst := l.bucket.Burst()
	return float64(min(burst/2, burst-1))
}

// Wait blocks until a call may go out under the budget, and returns how long it waited. It does
// not wait for an open circuit: the caller answers that itself, since the wait can be minutes.
func (l *Limiter) Wait(ctx context.Context) (time.Duration, error) {
	start := l.now()
	if PriorityOf(ctx) == Low {
		if err := l.waitForReserve(ctx); err != nil {
			return l.now().Sub(start), err
		}
	}
	err := l.waitForToken(ctx)
	return l.now().Sub(start), err
}

// waitForToken takes a token, waiting for it up to maxWait.
func (l *Limiter) waitForToken(ctx context.Context) error {
	if l.maxWait <= 0 {
		return l.bucket.Wait(ctx)
	}
	r := l.bucket.Reserve()
	delay := r.Delay()
	if !r.OK() || delay > l.maxWait {
		r.Cancel()
		return &WaitTooLongError{Wait: delay}
	}
	if delay == 0 {
		return nil
	}
	timer := time.NewTimer(delay)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		r.Cancel()
		return ctx.Err()
	}
}

// waitForReserve holds a Low call until the bucket holds more than the reserve.
func (l *Limiter) waitForReserve(ctx context.Context) error {
	for {
		tokens := l.bucket.Tokens()
		need := l.reserve() + 1 - tokens
		if need <= 0 || l.bucket.Limit() == rate.Inf {
			return nil
		}
		delay := time.Duration(need / float64(l.bucket.Limit()) * float64(time.Second))
		if l.maxWait > 0 && delay > l.maxWait {
			return &WaitTooLongError{Wait: delay}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
	}
}

// Registry hands out one Limiter per credential, so every worker and every object that uses a
// credential shares its budget, and credentials do not slow each other.
type Registry struct {
	// PerWindow and Burst are the defaults, from --cloudflare-requests-per-5m and --cloudflare-burst.
	PerWindow int
	Burst     int
	// MaxWait bounds each call's wait for the budget (DefaultMaxWait from NewRegistry).
	MaxWait time.Duration

	mu       sync.Mutex
	limiters map[string]*Limiter
	// overrides holds, per credential, each user's {perWindow, burst}.
	overrides map[string]map[string][2]int
}

// NewRegistry returns a Registry with these defaults.
func NewRegistry(perWindow, burst int) *Registry {
	return &Registry{PerWindow: perWindow, Burst: burst, MaxWait: DefaultMaxWait,
		limiters: map[string]*Limiter{}, overrides: map[string]map[string][2]int{}}
}

// For returns the credential's limiter for one of its users (owner: an account object), with
// that user's override (zero values keep the default). Several account objects may share one
// credential with different overrides: the credential's budget is then the lowest of theirs, as
// the same token's budget cannot be spent twice. key identifies the credential without being it.
func (r *Registry) For(key, owner string, perWindow, burst int) *Limiter {
	if perWindow <= 0 {
		perWindow = r.PerWindow
	}
	if burst <= 0 {
		burst = r.Burst
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.overrides[key] == nil {
		r.overrides[key] = map[string][2]int{}
	}
	r.overrides[key][owner] = [2]int{perWindow, burst}
	for _, o := range r.overrides[key] {
		perWindow, burst = min(perWindow, o[0]), min(burst, o[1])
	}
	l, ok := r.limiters[key]
	if !ok {
		l = NewLimiter(perWindow, burst)
		l.maxWait = r.MaxWait
		r.limiters[key] = l
		return l
	}
	l.SetLimit(perWindow, burst)
	return l
}

// OpenCircuits counts the credentials whose circuit is open now, for the metrics.
func (r *Registry) OpenCircuits() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, l := range r.limiters {
		if _, open := l.OpenUntil(); open {
			n++
		}
	}
	return n
}

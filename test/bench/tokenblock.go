package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/workersvpc/connectivity-operator/internal/cloudflare/cloudflaretest"
)

// blockDuration is how long the fake answers 429 to every call of the blocked token.
const blockDuration = 30 * time.Second

// tokenBlock makes the fake answer 429 (Retry-After: the time left) to every call of the first
// account's token for blockDuration from the first create, to see whether the other accounts'
// objects wait for that account's: they should be Ready as fast as without the block.
type tokenBlock struct {
	none
	start time.Time
}

// beforeCreate blocks the first account's token.
func (b *tokenBlock) beforeCreate(_ context.Context, r *run) error {
	b.start = time.Now()
	r.env.api.Block(r.accounts[0].token, blockDuration)
	return nil
}

// afterReady waits out the minute after the block and records the blocked token's calls and
// the times to Ready of the blocked account and of the others.
func (b *tokenBlock) afterReady(ctx context.Context, r *run, _, _ time.Time) error {
	if err := r.sleepUntil(ctx, b.start.Add(disruptionWindow)); err != nil {
		return err
	}
	byAccount := r.res.SecondsToReadyByAccount
	if len(byAccount) < 2 {
		return fmt.Errorf("%s needs at least two accounts", r.sc.name)
	}
	d := &disruptionResult{
		Kind: "token-429",
		Description: fmt.Sprintf("429 to every call of 1 of %d tokens for %s",
			len(r.accounts), blockDuration),
		SecondsToRecovered:           slices.Max(byAccount[1:]),
		BlockedAccountSecondsToReady: byAccount[0],
	}
	blocked := newCallLog(r.env.api.Requests(), r.accounts[0])
	succeeded := func(c cloudflaretest.Request) bool { return c.Status >= 200 && c.Status < 300 }
	if t, ok := blocked.firstAfter(b.start, succeeded); ok {
		d.SecondsToFirstCall = t.Sub(b.start).Seconds()
	}
	recordWindow(d, blocked, b.start)
	r.res.Disruption = d
	return nil
}

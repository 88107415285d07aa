package main

import (
	"context"
	"fmt"
)

// checkRemote compares the fake's services with the objects once the scenario is over: every
// object must record a service of its own that exists, and every service must be recorded by an
// object. A service no object records is a duplicate: the fake, like Cloudflare, refuses a second
// service of one name, so a double create shows as a refused create (CreatesRefused) and an
// object left without Ready, while a service created for nothing shows here. Only the counts
// are recorded; the targets judge them.
func (r *run) checkRemote(ctx context.Context) error {
	for _, acct := range r.accounts {
		remote := map[string]bool{}
		for _, svc := range r.env.api.Services(acct.id) {
			remote[svc.ID] = true
		}
		items, err := cachedServices(ctx, r.env, acct)
		if err != nil {
			return err
		}
		recorded := map[string]bool{}
		for i := range items {
			id := items[i].Status.ServiceID
			if id == "" || !remote[id] || recorded[id] {
				r.res.ObjectsWithoutService++
			}
			recorded[id] = true
		}
		for id := range remote {
			if !recorded[id] {
				r.res.Duplicates++
			}
		}
		r.res.RemoteServices += len(remote)
	}
	if r.res.Duplicates > 0 || r.res.ObjectsWithoutService > 0 {
		fmt.Printf("  %d services in the fake for %d objects: %d recorded by no object, %d objects without their own\n",
			r.res.RemoteServices, r.sc.total(), r.res.Duplicates, r.res.ObjectsWithoutService)
	}
	return nil
}

package controller

import (
	"context"
	"errors"
	"sync"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	"github.com/workersvpc/connectivity-operator/internal/account"
	"github.com/workersvpc/connectivity-operator/internal/cloudflare"
	"github.com/workersvpc/connectivity-operator/internal/conditions"
)

// connection is a resolved account with a client for it.
type connection struct {
	acct *account.Account
	cl   cloudflare.Client
}

// dialer connects an object to its Cloudflare account: services and tunnels share it, so both
// report a missing account or Secret the same way.
type dialer struct {
	// Accounts resolves account objects and reads their Secrets (uncached).
	Accounts *account.Resolver
	// ClientFor builds the Cloudflare client of an account.
	ClientFor ClientFor
	// ResyncInterval is how soon an object waiting for its account looks again (a change of the
	// account or its Secret wakes it sooner).
	ResyncInterval time.Duration

	// lastCredentials holds, per account object, the credentials this process last read. They
	// serve only deletes whose Secret is already gone, such as when a namespace is deleted with
	// its Secret, its account and its objects at once: the objects can still delete their
	// Cloudflare side instead of getting stuck.
	lastCredentials sync.Map
}

// connect resolves the account and credentials. When they are not usable it sets the condition
// that says why (stall reports a failure only a person can fix) and returns a nil connection with
// the result to return.
func (d *dialer) connect(ctx context.Context, obj conditionedObject, ref account.Ref, stall func(reason, message string)) (*connection, ctrl.Result, error) {
	acct, err := d.Accounts.Get(ctx, ref)
	if errors.Is(err, account.ErrAccountNotFound) {
		conditions.MarkReconciling(obj, v1alpha1.ReasonAccountNotReady, accountMissingMessage(ref))
		return nil, ctrl.Result{RequeueAfter: d.ResyncInterval}, nil
	}
	if err != nil {
		return nil, ctrl.Result{}, err
	}
	if !acct.Ready() {
		conditions.MarkReconciling(obj, v1alpha1.ReasonAccountNotReady, accountNotReadyMessage(acct))
		return nil, ctrl.Result{RequeueAfter: d.ResyncInterval}, nil
	}
	conn, err := d.dial(ctx, acct)
	switch {
	case errors.Is(err, account.ErrSecretNotFound) || errors.Is(err, account.ErrSecretIncomplete):
		conditions.MarkReconciling(obj, v1alpha1.ReasonCredentialsNotFound, secretMessage(acct, err))
		return nil, ctrl.Result{RequeueAfter: d.ResyncInterval}, nil
	case errors.Is(err, account.ErrCredentialsMalformed) || errors.Is(err, cloudflare.ErrInvalid):
		// Credentials no client can be made with: a person must fix the Secret, whose change
		// wakes this object.
		stall(v1alpha1.ReasonCredentialsInvalid, malformedMessage(acct))
		return nil, ctrl.Result{RequeueAfter: credentialsRetry}, nil
	}
	return conn, ctrl.Result{}, err
}

// dial reads the account's credentials and builds its client.
func (d *dialer) dial(ctx context.Context, acct *account.Account) (*connection, error) {
	creds, err := d.Accounts.Credentials(ctx, acct)
	if err != nil {
		return nil, err
	}
	d.lastCredentials.Store(acct.Ref.String(), creds)
	return d.connectWith(acct, creds)
}

// connectWith builds the account's client from credentials already read.
func (d *dialer) connectWith(acct *account.Account, creds cloudflare.Credentials) (*connection, error) {
	cl, err := d.ClientFor(acct, creds)
	if err != nil {
		return nil, err
	}
	return &connection{acct: acct, cl: cl}, nil
}

// connectForDelete resolves the account and credentials. Unlike the normal path it does not wait
// for the account to be Ready: a delete should go through whenever the credentials still work,
// even when their Secret was deleted a moment before.
func (d *dialer) connectForDelete(ctx context.Context, ref account.Ref) (*connection, error) {
	acct, err := d.Accounts.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	conn, err := d.dial(ctx, acct)
	if errors.Is(err, account.ErrSecretNotFound) {
		if creds, ok := d.lastCredentials.Load(acct.Ref.String()); ok {
			ctrl.LoggerFrom(ctx).Info("Secret is gone; deleting with the credentials last read from it", "account", acct.Ref.String())
			return d.connectWith(acct, creds.(cloudflare.Credentials))
		}
	}
	return conn, err
}

// deleteBlockedBy says what keeps a delete from reaching Cloudflare for want of an account or
// credentials; "" when err is something else.
func deleteBlockedBy(ref account.Ref, err error) string {
	switch {
	case errors.Is(err, account.ErrAccountNotFound):
		return ref.String() + " does not exist"
	case errors.Is(err, account.ErrSecretNotFound):
		return "the account's Secret does not exist"
	case errors.Is(err, account.ErrSecretIncomplete):
		return "the account's Secret holds no API token"
	}
	return ""
}

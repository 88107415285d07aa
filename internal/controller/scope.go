package controller

import (
	"context"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// scope is the state of one reconcile of one object: the object, the account connection once
// made, and the patcher that writes the object. Steps take the scope, so that a step's signature
// names only what is particular to it. The logger travels in the context, as controller-runtime
// puts it there.
type scope[T conditionedObject] struct {
	obj T
	// conn is nil until the reconcile has connected to the object's account.
	conn  *connection
	patch *patcher
}

// serviceScope is the scope of a ConnectivityService reconcile.
type serviceScope = scope[*v1alpha1.ConnectivityService]

// tunnelScope is the scope of a CloudflareTunnel reconcile.
type tunnelScope = scope[*v1alpha1.CloudflareTunnel]

// accountID is the Cloudflare account the reconcile works in.
func (s *scope[T]) accountID() string {
	return s.conn.acct.AccountID
}

// newScope reads the object of req into obj and starts its patcher. A nil scope with a nil error
// means the object is gone: there is nothing to do.
func newScope[T conditionedObject](ctx context.Context, c client.Client, req ctrl.Request, obj T,
	copyStatus func(dst, src client.Object)) (*scope[T], error) {
	if err := c.Get(ctx, req.NamespacedName, obj); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	return &scope[T]{obj: obj, patch: newPatcher(c, obj, copyStatus)}, nil
}

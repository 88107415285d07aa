package controller

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	"github.com/workersvpc/connectivity-operator/internal/cloudflare"
)

// TestClassify is the table of the one classification every kind uses: each typed error of the
// client lands in exactly one bucket, wrapped or not, and anything unknown is transient.
func TestClassify(t *testing.T) {
	cases := []struct {
		err    error
		bucket bucket
		reason string
	}{
		{cloudflare.ErrRateLimited, waiting, v1alpha1.ReasonRateLimited},
		{cloudflare.ErrTunnelNotFound, terminal, v1alpha1.ReasonTunnelNotFound},
		{cloudflare.ErrInvalid, terminal, v1alpha1.ReasonInvalidSpec},
		{cloudflare.ErrNameConflict, terminal, v1alpha1.ReasonInvalidSpec},
		{cloudflare.ErrUnauthorized, terminal, v1alpha1.ReasonCredentialsInvalid},
		{cloudflare.ErrForbidden, terminal, v1alpha1.ReasonPermissionDenied},
		{cloudflare.ErrTransient, transient, v1alpha1.ReasonAPIError},
		{cloudflare.ErrNotFound, transient, v1alpha1.ReasonAPIError},
		{context.DeadlineExceeded, transient, v1alpha1.ReasonAPIError},
		{errors.New("connection reset by peer"), transient, v1alpha1.ReasonAPIError},
		{&cloudflare.APIError{Kind: cloudflare.ErrForbidden, StatusCode: 403}, terminal, v1alpha1.ReasonPermissionDenied},
		{fmt.Errorf("create: %w", &cloudflare.APIError{Kind: cloudflare.ErrRateLimited, StatusCode: 429}), waiting, v1alpha1.ReasonRateLimited},
	}
	for _, c := range cases {
		b, reason := classify(c.err)
		if b != c.bucket || reason != c.reason {
			t.Errorf("classify(%v) = %d, %s; want %d, %s", c.err, b, reason, c.bucket, c.reason)
		}
	}
}

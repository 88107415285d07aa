package cloudflare

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors: every *APIError unwraps to exactly one of them, so the controller sorts a
// failure into terminal, waiting or transient with errors.Is.
var (
	// ErrNotFound: the service id is unknown (404, code 5104), or the tunnel id is unknown or
	// the tunnel is deleted (404, or a reply with deleted_at set).
	ErrNotFound = errors.New("not found")
	// ErrNameConflict: another service in the account has this name (400, code 5101), or a
	// non-deleted tunnel has this tunnel name (409, code 1013).
	ErrNameConflict = errors.New("name already exists in the account")
	// ErrTunnelNotFound: a service names a tunnel id unknown to the account (400, code 5101).
	// The tunnel calls themselves answer ErrNotFound for an unknown tunnel.
	ErrTunnelNotFound = errors.New("tunnel not found in the account")
	// ErrInvalid: the request body was rejected (400, code 5102 or another 4xx).
	ErrInvalid = errors.New("invalid request")
	// ErrUnauthorized: the credentials are bad or missing (401/403, code 10000). A token
	// without "Cloudflare Tunnel Edit" gets the same answer on the tunnel calls.
	ErrUnauthorized = errors.New("authentication failed")
	// ErrForbidden: the credentials lack the Workers VPC permission (403, code 10196).
	ErrForbidden = errors.New("permission denied")
	// ErrRateLimited: the credential's budget is spent (429); see RetryAfter.
	ErrRateLimited = errors.New("rate limited")
	// ErrTransient: a 5xx, 408, 409, timeout or connection failure, or a tunnel delete refused
	// because a connector reconnected (400, code 1022); worth retrying with backoff.
	ErrTransient = errors.New("transient failure")
)

// APIError is a failed API call. Its message carries the CF-Ray id that Cloudflare support asks
// for, and never the credentials, a tunnel secret or a connector token.
type APIError struct {
	// Kind is the sentinel error this failure unwraps to.
	Kind error
	// Method and Path identify the call, without the query string.
	Method string
	Path   string
	// StatusCode is the HTTP status; zero when no response arrived.
	StatusCode int
	// Code and Message are the first entry of the envelope's errors array, when there is one.
	Code    int
	Message string
	// RayID is the CF-Ray response header.
	RayID string
	// RetryAfter is the server's Retry-After for a 429; zero when absent.
	RetryAfter time.Duration
}

// Error describes the failure for logs and conditions.
func (e *APIError) Error() string {
	msg := fmt.Sprintf("cloudflare %s %s: %v", e.Method, e.Path, e.Kind)
	if e.StatusCode != 0 {
		msg += fmt.Sprintf(" (HTTP %d", e.StatusCode)
		if e.Code != 0 {
			msg += fmt.Sprintf(", code %d", e.Code)
		}
		msg += ")"
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.RayID != "" {
		msg += " [cf-ray " + e.RayID + "]"
	}
	return msg
}

// Unwrap lets errors.Is match the sentinel Kind.
func (e *APIError) Unwrap() error { return e.Kind }

// RetryAfter returns how long to wait before calling again after err, when the API said so.
func RetryAfter(err error) (time.Duration, bool) {
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.RetryAfter > 0 {
		return apiErr.RetryAfter, true
	}
	return 0, false
}

// Cause describes a failed call for a condition message: the same text for every retry of one
// cause, so retries never rewrite status. It leaves out what differs per request (the CF-Ray id,
// which goes to events and logs) and the path.
func Cause(err error) string {
	apiErr, ok := errors.AsType[*APIError](err)
	if !ok || apiErr.StatusCode == 0 {
		return "no answer from the Cloudflare API"
	}
	msg := fmt.Sprintf("HTTP %d", apiErr.StatusCode)
	if apiErr.Code != 0 {
		msg += fmt.Sprintf(", code %d", apiErr.Code)
	}
	if apiErr.Message != "" {
		msg += ": " + apiErr.Message
	}
	return msg
}

package cloudflare

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// API error codes the classification depends on (see the API notes' error table).
const (
	codeServiceConflict = 5101 // name already exists, or tunnel id not found: told apart by message
	codeNotFound        = 5104
	codeAuthentication  = 10000
	codeNoRoute         = 7000 // "No route for that URI": a wrong base URL or path
	codeCouldNotRoute   = 7003 // "Could not route to ...": a malformed account id

	// codeTunnelNameTaken comes with HTTP 409 when a tunnel create asks for a name that a
	// non-deleted tunnel of the account holds ("You already have a tunnel with this name").
	// cloudflared's own API client (cfapi.CreateTunnel) maps that 409 to "tunnel with name
	// already exists"; the code and message are what client code in the wild matches on. Not
	// in the SDK's schema: see docs/cloudflare-tunnels.md.
	codeTunnelNameTaken = 1013
	// codeTunnelHasConnections comes with HTTP 400 when a tunnel that still has connections is
	// deleted ("Cannot delete tunnel because it has active connections"). DeleteTunnel cleans
	// the connections first, so this only means a connector reconnected in between: a retry
	// succeeds, hence ErrTransient rather than ErrInvalid.
	codeTunnelHasConnections = 1022
)

// tunnelNameTakenMessage identifies the tunnel name conflict when a proxy or a future API
// version drops the code.
const tunnelNameTakenMessage = "already have a tunnel with this name"

// classify picks the sentinel for a failed reply. The order matters: code 5104 means not found
// whatever the status, 409 is a transient conflict rather than an invalid request (except the
// tunnel name conflict, 409/1013), and 5101 covers two causes that only the message separates.
// A 404 that is a routing error (7000, 7003) says the request was wrong, not that the service
// is gone: mapping it to ErrNotFound would let Delete report success against a misconfigured
// base URL or account id.
//
// A token without the "Cloudflare Tunnel Edit" permission gets 403/10000 ("Authentication
// error") on the tunnel calls, the same answer as a bad token: it stays ErrUnauthorized, so
// the controller's message for it must mention the tunnel permission too.
func classify(status, code int, message string) error {
	switch {
	case code == codeNoRoute || code == codeCouldNotRoute:
		return ErrInvalid
	case status == http.StatusNotFound || code == codeNotFound:
		return ErrNotFound
	case status == http.StatusBadRequest:
		return classifyBadRequest(code, message)
	case status == http.StatusUnauthorized:
		return ErrUnauthorized
	case status == http.StatusForbidden && code == codeAuthentication:
		return ErrUnauthorized
	case status == http.StatusForbidden:
		return ErrForbidden
	case status == http.StatusTooManyRequests:
		return ErrRateLimited
	case status == http.StatusConflict && isTunnelNameTaken(code, message):
		return ErrNameConflict
	case status == http.StatusRequestTimeout, status == http.StatusConflict, status >= 500:
		return ErrTransient
	case status >= 400:
		return ErrInvalid
	default:
		return ErrTransient // a 2xx or 3xx that says it failed: nothing in it to act on
	}
}

// classifyBadRequest separates the two meanings of 5101 by message; 1022 (a tunnel that still
// has connections) is worth a retry; every other 400 is a body the API rejected. A 400 without
// a code (an odd proxy) is read by message too.
func classifyBadRequest(code int, message string) error {
	if code == codeTunnelHasConnections {
		return ErrTransient
	}
	if code != codeServiceConflict && code != 0 {
		return ErrInvalid
	}
	msg := strings.ToLower(message)
	switch {
	case code == 0 && strings.Contains(msg, "active connections"):
		return ErrTransient // the 1022 of a tunnel delete, without its code
	case strings.Contains(msg, "already exists"), strings.Contains(msg, tunnelNameTakenMessage):
		return ErrNameConflict
	case strings.Contains(msg, "tunnel"):
		return ErrTunnelNotFound
	default:
		return ErrInvalid
	}
}

// isTunnelNameTaken recognises the 409 of a tunnel create whose name is taken, by code or, when
// the code is missing, by message. Other 409s stay transient.
func isTunnelNameTaken(code int, message string) bool {
	return code == codeTunnelNameTaken ||
		(code == 0 && strings.Contains(strings.ToLower(message), tunnelNameTakenMessage))
}

// parseRetryAfter reads Retry-After as seconds or as an HTTP date; absent or past means zero.
func parseRetryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		return max(0, time.Duration(secs*float64(time.Second)))
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, time.Until(t).Round(time.Second))
	}
	return 0
}

// isNotFound reports an error that means the service is gone.
func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// asAPIError finds the *APIError in err's chain.
func asAPIError(err error) (*APIError, bool) {
	var apiErr *APIError
	ok := errors.As(err, &apiErr)
	return apiErr, ok
}

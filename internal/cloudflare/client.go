package cloudflare

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"time"
)

// Client is what the controllers need from the connectivity directory and Cloudflare Tunnel
// APIs of one account.
// Every method returns an *APIError (see errors.go) for API failures, so callers branch with
// errors.Is on the sentinel errors and never parse messages.
type Client interface {
	// Get returns the service with this id, or ErrNotFound.
	Get(ctx context.Context, id string) (*Service, error)
	// List returns every service in the account, reading all pages with per_page=1000.
	List(ctx context.Context) ([]Service, error)
	// FindByName returns the service with this name from a full List, or ErrNotFound.
	FindByName(ctx context.Context, name string) (*Service, error)
	// Create makes a service. It is never retried: a POST that timed out may have succeeded,
	// so the caller must find out by name.
	Create(ctx context.Context, svc Service) (*Service, error)
	// Update replaces the service with this id (a full PUT); ErrNotFound when it is gone.
	Update(ctx context.Context, id string, svc Service) (*Service, error)
	// Delete removes the service with this id; it returns nil when the service is already gone.
	Delete(ctx context.Context, id string) error
	// Verify checks that the credentials are valid (tokens/verify for API tokens) and carry the
	// Workers VPC permission (a one-item list call).
	Verify(ctx context.Context) error

	// CreateTunnel makes a remotely managed tunnel (config_src cloudflare) with this secret
	// (at least 32 bytes; nil lets Cloudflare choose). It is never retried, like Create; the
	// token is the reply's, or zero when the reply has none. ErrNameConflict when a
	// non-deleted tunnel has the name.
	CreateTunnel(ctx context.Context, name string, secret []byte) (*Tunnel, ConnectorToken, error)
	// GetTunnel returns the tunnel with this id; ErrNotFound when it is unknown or deleted.
	GetTunnel(ctx context.Context, id string) (*Tunnel, error)
	// FindTunnelByName returns the non-deleted tunnel with exactly this name, reading every
	// page of the filtered list; ErrNotFound when there is none.
	FindTunnelByName(ctx context.Context, name string) (*Tunnel, error)
	// TunnelToken returns the connector token of the tunnel with this id; ErrNotFound when the
	// tunnel is unknown.
	TunnelToken(ctx context.Context, id string) (ConnectorToken, error)
	// DeleteTunnel cleans up the tunnel's connections, then deletes it; it returns nil when the
	// tunnel is already gone. ErrTransient when a connector reconnected in between.
	DeleteTunnel(ctx context.Context, id string) error
}

// Credentials authenticate API calls: an API token, or the legacy email and global API key.
// Its String method never prints the secret parts.
type Credentials struct {
	APIToken string
	APIKey   string
	Email    string
}

// String describes the credential kind without revealing it, so accidental logging is safe.
func (c Credentials) String() string {
	if c.APIToken != "" {
		return "api-token(redacted)"
	}
	return "api-key(redacted)"
}

// GoString keeps %#v from printing the secret parts.
func (c Credentials) GoString() string { return c.String() }

// Config is everything New needs to build a client for one account.
type Config struct {
	// BaseURL of the API; empty means Cloudflare's production API.
	BaseURL string
	// AccountID is the Cloudflare account the client works in.
	AccountID string
	// Credentials authenticate every call.
	Credentials Credentials
	// HTTPClient carries the calls; rate limiting and metrics wrap its transport. Optional.
	HTTPClient *http.Client
	// Timeout bounds each call; zero means 30 seconds.
	Timeout time.Duration
}

// Fingerprint identifies the credential (to share one rate limiter among its users) without
// revealing it: a truncated SHA-256, never printed with the secret.
func (c Credentials) Fingerprint() string {
	sum := sha256.Sum256([]byte(c.APIToken + "\x00" + c.Email + "\x00" + c.APIKey))
	return hex.EncodeToString(sum[:8])
}

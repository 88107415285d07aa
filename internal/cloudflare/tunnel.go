package cloudflare

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"time"

	"github.com/cloudflare/cloudflare-go/v7/zero_trust"
)

// Tunnel is a Cloudflare Tunnel (cfd_tunnel) as the operator needs it: enough to point services
// at it and to report whether a connector serves it.
type Tunnel struct {
	// ID is the tunnel's UUID; services refer to it as tunnel_id.
	ID string
	// Name is unique among the account's non-deleted tunnels: the only handle the operator
	// controls, since the API has no idempotency key.
	Name string
	// Status is inactive (never connected), degraded, healthy or down.
	Status string
	// CreatedAt is when Cloudflare created the tunnel.
	CreatedAt time.Time
	// Connections counts the active connections: entries of the reply's connections that are
	// not pending reconnect.
	Connections int
}

// minTunnelSecret is the API's minimum tunnel_secret length in bytes.
const minTunnelSecret = 32

// configSrcCloudflare makes the tunnel remotely managed, so its create reply and the token
// endpoint carry a connector token and cloudflared needs no local configuration.
const configSrcCloudflare = zero_trust.TunnelCloudflaredNewParamsConfigSrcCloudflare

// tunnelsPath is the path the SDK calls for the collection or, with an id, one tunnel and its
// sub-resources; it names the call in errors.
func (c *sdkClient) tunnelsPath(id string, sub ...string) string {
	return path.Join(append([]string{c.basePath, "accounts", c.accountID, "cfd_tunnel", id}, sub...)...)
}

// checkTunnelID refuses tunnel ids the SDK would paste into the path unescaped.
func (c *sdkClient) checkTunnelID(method, id string) error {
	return checkURLSafe(method, c.tunnelsPath("{tunnel_id}"), "tunnel", id)
}

// CreateTunnel makes a remotely managed tunnel; it is sent exactly once (see New on retries).
// The secret is checked here, so a short one costs no call; the API would refuse it too.
func (c *sdkClient) CreateTunnel(ctx context.Context, name string, secret []byte) (*Tunnel, ConnectorToken, error) {
	p := c.tunnelsPath("")
	if msg := checkTunnelCreate(name, secret); msg != "" {
		return nil, ConnectorToken{}, &APIError{Kind: ErrInvalid, Method: http.MethodPost, Path: p, Message: msg}
	}
	var params zero_trust.TunnelCloudflaredNewParams
	params.AccountID.Value, params.AccountID.Present = c.accountID, true
	params.Name.Value, params.Name.Present = name, true
	params.ConfigSrc.Value, params.ConfigSrc.Present = configSrcCloudflare, true
	if secret != nil {
		params.TunnelSecret.Value, params.TunnelSecret.Present = base64.StdEncoding.EncodeToString(secret), true
	}
	call := c.newCall(ctx, http.MethodPost, p)
	call.redact = call.redact.withBytes(secret)
	_, err := c.tunnels.New(call.ctx, params, call.options()...)
	w, err := call.tunnelReply(err)
	if err != nil {
		return nil, ConnectorToken{}, err
	}
	t := w.tunnel()
	return &t, NewConnectorToken(w.Token), nil
}

// checkTunnelCreate says what the API would refuse in a create, without quoting the secret.
func checkTunnelCreate(name string, secret []byte) string {
	switch {
	case name == "":
		return "tunnel name must not be empty"
	case secret != nil && len(secret) < minTunnelSecret:
		return fmt.Sprintf("tunnel secret must be at least %d bytes", minTunnelSecret)
	}
	return ""
}

// GetTunnel returns the tunnel with this id. The API still answers a deleted tunnel, with
// deleted_at set: for the operator that tunnel is gone, so it is ErrNotFound.
func (c *sdkClient) GetTunnel(ctx context.Context, id string) (*Tunnel, error) {
	if err := c.checkTunnelID(http.MethodGet, id); err != nil {
		return nil, err
	}
	call := c.newCall(ctx, http.MethodGet, c.tunnelsPath(id))
	var params zero_trust.TunnelCloudflaredGetParams
	params.AccountID.Value, params.AccountID.Present = c.accountID, true
	_, err := c.tunnels.Get(call.ctx, id, params, call.options()...)
	w, err := call.tunnelReply(err)
	if err != nil {
		return nil, err
	}
	if w.deleted() {
		return nil, call.goneError("tunnel is deleted")
	}
	t := w.tunnel()
	return &t, nil
}

// FindTunnelByName asks the list for this name among non-deleted tunnels and still checks both
// itself, in case the server ignores a filter. Names are unique among non-deleted tunnels, so
// the first match is the only one. Pages are read until one is the last (see tunnelPage),
// bounded like List.
func (c *sdkClient) FindTunnelByName(ctx context.Context, name string) (*Tunnel, error) {
	for page := int64(1); page <= maxListPages; page++ {
		items, last, err := c.tunnelPage(ctx, name, page)
		if err != nil {
			return nil, err
		}
		for _, w := range items {
			if w.Name == name && !w.deleted() {
				t := w.tunnel()
				return &t, nil
			}
		}
		if last {
			return nil, &APIError{Kind: ErrNotFound, Method: http.MethodGet, Path: c.tunnelsPath(""),
				Message: fmt.Sprintf("no tunnel named %q", name)}
		}
	}
	return nil, &APIError{Kind: ErrTransient, Method: http.MethodGet, Path: c.tunnelsPath(""),
		Message: fmt.Sprintf("tunnel list did not end after %d pages", maxListPages)}
}

// tunnelPage fetches one page of the tunnels named name that are not deleted.
func (c *sdkClient) tunnelPage(ctx context.Context, name string, page int64) ([]wireTunnel, bool, error) {
	call := c.newCall(ctx, http.MethodGet, c.tunnelsPath(""))
	var params zero_trust.TunnelCloudflaredListParams
	params.AccountID.Value, params.AccountID.Present = c.accountID, true
	params.Name.Value, params.Name.Present = name, true
	params.IsDeleted.Value, params.IsDeleted.Present = false, true
	params.Page.Value, params.Page.Present = float64(page), true
	params.PerPage.Value, params.PerPage.Present = listPageSize, true
	_, err := c.tunnels.List(call.ctx, params, call.options()...)
	return call.tunnelPage(err, page, listPageSize)
}

// TunnelToken returns the tunnel's connector token. The reply's result is the bare token.
func (c *sdkClient) TunnelToken(ctx context.Context, id string) (ConnectorToken, error) {
	if err := c.checkTunnelID(http.MethodGet, id); err != nil {
		return ConnectorToken{}, err
	}
	call := c.newCall(ctx, http.MethodGet, c.tunnelsPath(id, "token"))
	var params zero_trust.TunnelCloudflaredTokenGetParams
	params.AccountID.Value, params.AccountID.Present = c.accountID, true
	_, err := c.tunnels.Token.Get(call.ctx, id, params, call.options()...)
	env, err := call.envelope(err)
	if err != nil {
		return ConnectorToken{}, err
	}
	var raw string
	if json.Unmarshal(env.Result, &raw) != nil || raw == "" {
		return ConnectorToken{}, call.replyError("reply has no connector token")
	}
	return NewConnectorToken(raw), nil
}

// DeleteTunnel removes the tunnel's connections first, because the API refuses to delete a
// tunnel that has any (400, code 1022), then deletes the tunnel (Cloudflare keeps it, with
// deleted_at set). A 404 from either call means the tunnel is already gone; the delete is
// still sent after a 404 on the connections, so a tunnel is never left behind on a guess.
func (c *sdkClient) DeleteTunnel(ctx context.Context, id string) error {
	if err := c.checkTunnelID(http.MethodDelete, id); err != nil {
		return err
	}
	if err := c.cleanupConnections(ctx, id); err != nil && !isNotFound(err) {
		return err
	}
	call := c.newCall(ctx, http.MethodDelete, c.tunnelsPath(id))
	var params zero_trust.TunnelCloudflaredDeleteParams
	params.AccountID.Value, params.AccountID.Present = c.accountID, true
	_, err := c.tunnels.Delete(call.ctx, id, params, call.options()...)
	_, err = call.envelope(err)
	if isNotFound(err) {
		return nil
	}
	return err
}

// cleanupConnections removes every connection of the tunnel (no client_id: all connectors).
func (c *sdkClient) cleanupConnections(ctx context.Context, id string) error {
	call := c.newCall(ctx, http.MethodDelete, c.tunnelsPath(id, "connections"))
	var params zero_trust.TunnelCloudflaredConnectionDeleteParams
	params.AccountID.Value, params.AccountID.Present = c.accountID, true
	_, err := c.tunnels.Connections.Delete(call.ctx, id, params, call.options()...)
	_, err = call.envelope(err)
	return err
}

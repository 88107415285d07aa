package cloudflare

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/cloudflare/cloudflare-go/v7/accounts"
	"github.com/cloudflare/cloudflare-go/v7/connectivity"
	"github.com/cloudflare/cloudflare-go/v7/option"
	"github.com/cloudflare/cloudflare-go/v7/user"
	"github.com/cloudflare/cloudflare-go/v7/zero_trust"
)

// ProductionBaseURL is Cloudflare's API, used when Config.BaseURL is empty.
const ProductionBaseURL = "https://api.cloudflare.com/client/v4"

// DefaultTimeout bounds each call when Config.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// listPageSize is the API's maximum per_page: an account holds at most 1000 services, so one
// page normally returns everything.
const listPageSize = 1000

// maxListPages stops a server that ignores the page parameter from looping List forever.
const maxListPages = 50

// urlSafeID is what an account, service or tunnel id may contain; the SDK pastes ids into the
// path unescaped, so anything else could redirect the call to another endpoint.
var urlSafeID = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// maxAccountIDLen is the schema's limit; Cloudflare refuses to route longer account ids.
const maxAccountIDLen = 32

// sdkClient implements Client over the official SDK. It holds no credentials of its own: they
// live only inside the SDK's request options, and String keeps %v from printing anything else.
type sdkClient struct {
	accountID   string
	basePath    string
	timeout     time.Duration
	services    *connectivity.DirectoryServiceService
	tunnels     *zero_trust.TunnelCloudflaredService
	userTokens  *user.TokenService
	acctTokens  *accounts.TokenService
	tokenAuth   bool
	redactValue redactor
}

// New builds a Client for one account.
//
// The SDK services are built directly from explicit options instead of cloudflare.NewClient,
// because NewClient starts from DefaultClientOptions, which reads CLOUDFLARE_API_TOKEN,
// CLOUDFLARE_API_KEY, CLOUDFLARE_EMAIL, CLOUDFLARE_API_USER_SERVICE_KEY, CLOUDFLARE_BASE_URL
// and (since v7) CLOUDFLARE_CUSTOM_HEADERS from the environment: an operator pod's environment
// must never add credentials or headers, or redirect a tenant's calls.
func New(cfg Config) (Client, error) {
	if !urlSafeID.MatchString(cfg.AccountID) || len(cfg.AccountID) > maxAccountIDLen {
		return nil, fmt.Errorf("cloudflare: %w: account id must be 1 to %d URL-safe characters", ErrInvalid, maxAccountIDLen)
	}
	auth, err := authOptions(cfg.Credentials)
	if err != nil {
		return nil, err
	}
	base, err := parseBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	opts := []option.RequestOption{
		option.WithBaseURL(base.String()),
		// SDK retries are off for every call. The SDK retries POST as well (a retried create
		// can collide with its own first attempt and answer "already exists"), and it retries
		// connection errors, 408, 409, 429 and 5xx (twice by default in v7, ten times in v6),
		// which burns the token's shared 5-minute budget and blocks the worker. Failures come
		// back typed; the controller's workqueue backs off instead.
		option.WithMaxRetries(0),
		option.WithRequestTimeout(timeout),
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, option.WithHTTPClient(cfg.HTTPClient))
	}
	opts = append(opts, auth...)
	return &sdkClient{
		accountID:   cfg.AccountID,
		basePath:    base.Path,
		timeout:     timeout,
		services:    connectivity.NewDirectoryServiceService(opts...),
		tunnels:     zero_trust.NewTunnelCloudflaredService(opts...),
		userTokens:  user.NewTokenService(opts...),
		acctTokens:  accounts.NewTokenService(opts...),
		tokenAuth:   cfg.Credentials.APIToken != "",
		redactValue: newRedactor(cfg.Credentials),
	}, nil
}

// authOptions picks the auth scheme: the API token when there is one, else the legacy pair.
func authOptions(c Credentials) ([]option.RequestOption, error) {
	secrets := []string{c.APIToken, c.APIKey, c.Email}
	for _, s := range secrets {
		if strings.ContainsAny(s, "\r\n") {
			return nil, fmt.Errorf("cloudflare: %w: credentials contain a line break", ErrInvalid)
		}
	}
	switch {
	case c.APIToken != "":
		return []option.RequestOption{option.WithAPIToken(c.APIToken)}, nil
	case c.APIKey != "" && c.Email != "":
		return []option.RequestOption{option.WithAPIEmail(c.Email), option.WithAPIKey(c.APIKey)}, nil
	default:
		return nil, fmt.Errorf("cloudflare: %w: credentials need an API token, or an email and a global API key", ErrInvalid)
	}
}

// parseBaseURL defaults to production and rejects URLs the SDK could not use.
func parseBaseURL(raw string) (*url.URL, error) {
	if raw == "" {
		raw = ProductionBaseURL
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("cloudflare: %w: base URL must be an absolute http(s) URL", ErrInvalid)
	}
	u.User = nil
	u.RawQuery, u.Fragment = "", ""
	return u, nil
}

// String describes the client without its credentials, so logging it is safe.
func (c *sdkClient) String() string {
	return fmt.Sprintf("cloudflare.Client{account: %s, base: %s}", c.accountID, c.basePath)
}

// Format makes every verb (%v, %+v, %s, %#v) print String, never the fields.
func (c *sdkClient) Format(f fmt.State, _ rune) { _, _ = fmt.Fprint(f, c.String()) }

// servicesPath is the path the SDK calls for the collection or, with an id, one service; it
// names the call in errors.
func (c *sdkClient) servicesPath(id string) string {
	p := path.Join(c.basePath, "accounts", c.accountID, "connectivity/directory/services")
	if id != "" {
		p += "/" + id
	}
	return p
}

// checkID refuses service ids the SDK would paste into the path unescaped.
func (c *sdkClient) checkID(method, id string) error {
	return checkURLSafe(method, c.servicesPath("{service_id}"), "service", id)
}

// checkURLSafe refuses an id the SDK would paste into the path unescaped; where names the call
// in the error, what names the id kind.
func checkURLSafe(method, where, what, id string) error {
	if urlSafeID.MatchString(id) {
		return nil
	}
	return &APIError{Kind: ErrInvalid, Method: method, Path: where,
		Message: what + " id must be non-empty and URL-safe"}
}

// Get returns the service with this id, or ErrNotFound.
func (c *sdkClient) Get(ctx context.Context, id string) (*Service, error) {
	if err := c.checkID(http.MethodGet, id); err != nil {
		return nil, err
	}
	call := c.newCall(ctx, http.MethodGet, c.servicesPath(id))
	_, err := c.services.Get(call.ctx, id, c.getParams(), call.options()...)
	return call.service(err)
}

// Create makes a service; it is sent exactly once (see New on retries).
func (c *sdkClient) Create(ctx context.Context, svc Service) (*Service, error) {
	body, err := requestBody(http.MethodPost, svc)
	if err != nil {
		return nil, err
	}
	var params connectivity.DirectoryServiceNewParams
	params.AccountID.Value, params.AccountID.Present = c.accountID, true
	call := c.newCall(ctx, http.MethodPost, c.servicesPath(""))
	_, err = c.services.New(call.ctx, params, append(call.options(), body)...)
	return call.service(err)
}

// Update replaces the service with this id (a full PUT).
func (c *sdkClient) Update(ctx context.Context, id string, svc Service) (*Service, error) {
	if err := c.checkID(http.MethodPut, id); err != nil {
		return nil, err
	}
	body, err := requestBody(http.MethodPut, svc)
	if err != nil {
		return nil, err
	}
	var params connectivity.DirectoryServiceUpdateParams
	params.AccountID.Value, params.AccountID.Present = c.accountID, true
	call := c.newCall(ctx, http.MethodPut, c.servicesPath(id))
	_, err = c.services.Update(call.ctx, id, params, append(call.options(), body)...)
	return call.service(err)
}

// Delete removes the service with this id; a 404/5104 means already gone, so it is success.
func (c *sdkClient) Delete(ctx context.Context, id string) error {
	if err := c.checkID(http.MethodDelete, id); err != nil {
		return err
	}
	call := c.newCall(ctx, http.MethodDelete, c.servicesPath(id))
	err := c.services.Delete(call.ctx, id, c.deleteParams(), call.options()...)
	_, err = call.envelope(err)
	if isNotFound(err) {
		return nil
	}
	return err
}

// List reads every page with per_page=1000. It asks for the next page only when a page came
// back full, and never looks at result_info: live replies have been seen without it. The SDK's
// auto-pager is not used: it always fetches one more page, even after a short one, and runs the
// follow-up pages on context.Background(), ignoring the caller's cancellation.
func (c *sdkClient) List(ctx context.Context) ([]Service, error) {
	var all []Service
	for page := int64(1); page <= maxListPages; page++ {
		items, last, err := c.listPage(ctx, page, listPageSize)
		if err != nil {
			return nil, err
		}
		all = append(all, items...)
		if last || len(items) < listPageSize {
			return all, nil
		}
	}
	return nil, &APIError{Kind: ErrTransient, Method: http.MethodGet, Path: c.servicesPath(""),
		Message: fmt.Sprintf("list did not end after %d full pages", maxListPages)}
}

// listPage fetches one page of services; last reports that result_info says there are no more.
func (c *sdkClient) listPage(ctx context.Context, page, perPage int64) (items []Service, last bool, err error) {
	call := c.newCall(ctx, http.MethodGet, c.servicesPath(""))
	var params connectivity.DirectoryServiceListParams
	params.AccountID.Value, params.AccountID.Present = c.accountID, true
	params.Page.Value, params.Page.Present = page, true
	params.PerPage.Value, params.PerPage.Present = perPage, true
	_, sdkErr := c.services.List(call.ctx, params, call.options()...)
	return call.services(sdkErr, page)
}

// FindByName returns the service with this name from a full List, or ErrNotFound. Names are
// unique per account, so the first match is the only one.
func (c *sdkClient) FindByName(ctx context.Context, name string) (*Service, error) {
	all, err := c.List(ctx)
	if err != nil {
		return nil, err
	}
	for i := range all {
		if all[i].Name == name {
			return &all[i], nil
		}
	}
	return nil, &APIError{Kind: ErrNotFound, Method: http.MethodGet, Path: c.servicesPath(""),
		Message: fmt.Sprintf("no service named %q", name)}
}

// Verify checks an API token with tokens/verify (user token first, then account token), then
// proves the Workers VPC permission, for every credential kind, with a one-item list call.
func (c *sdkClient) Verify(ctx context.Context) error {
	if c.tokenAuth {
		if err := c.verifyToken(ctx); err != nil {
			return err
		}
	}
	_, _, err := c.listPage(ctx, 1, 1)
	return err
}

// verifyToken asks /user/tokens/verify; a 401 with code 1000 there means the token may be
// account-owned, which only /accounts/{id}/tokens/verify knows about.
func (c *sdkClient) verifyToken(ctx context.Context) error {
	call := c.newCall(ctx, http.MethodGet, path.Join(c.basePath, "user/tokens/verify"))
	_, err := c.userTokens.Verify(call.ctx, call.options()...)
	status, err := call.tokenStatus(err)
	if isUserTokenRejected(err) {
		call = c.newCall(ctx, http.MethodGet, path.Join(c.basePath, "accounts", c.accountID, "tokens/verify"))
		_, err = c.acctTokens.Verify(call.ctx, c.verifyParams(), call.options()...)
		status, err = call.tokenStatus(err)
	}
	if err != nil {
		return err
	}
	if status != "active" {
		return &APIError{Kind: ErrUnauthorized, Method: call.method, Path: call.path,
			Message: fmt.Sprintf("token status is %q, not active", status)}
	}
	return nil
}

// isUserTokenRejected reports the user-verify answer that sends us to the account endpoint.
func isUserTokenRejected(err error) bool {
	apiErr, ok := asAPIError(err)
	return ok && apiErr.StatusCode == http.StatusUnauthorized && apiErr.Code == 1000
}

// getParams, deleteParams and verifyParams carry the account id (see wire.go on fields).
func (c *sdkClient) getParams() (p connectivity.DirectoryServiceGetParams) {
	p.AccountID.Value, p.AccountID.Present = c.accountID, true
	return p
}

func (c *sdkClient) deleteParams() (p connectivity.DirectoryServiceDeleteParams) {
	p.AccountID.Value, p.AccountID.Present = c.accountID, true
	return p
}

func (c *sdkClient) verifyParams() (p accounts.TokenVerifyParams) {
	p.AccountID.Value, p.AccountID.Present = c.accountID, true
	return p
}

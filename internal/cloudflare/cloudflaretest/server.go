// Package cloudflaretest is a stateful, protocol-level fake of the Cloudflare Workers VPC connectivity
// directory API and of the Cloudflare Tunnel (cfd_tunnel) API. Tests run it with
// httptest.NewServer(fake.NewServer()) and drive it through the real client, so JSON shapes,
// headers, status codes and error mapping are exercised end to end; hack/fake-cloudflare-api
// runs the same handler as a process for demos and end-to-end tests.
//
// It reproduces the behaviours documented in the project's API notes that an operator must
// survive: the envelope, both authentication schemes, name and tunnel conflicts, PUT resetting
// created_at, pagination, the per-credential rate limit with its block, and injected faults such
// as commit-then-fail and hanging calls. For tunnels it reproduces create with a connector token
// (409 on a taken name), soft delete (deleted tunnels stay readable with deleted_at set and free
// their name), the list filters, and the refusal to delete a tunnel that has connections;
// SetTunnelHealth plays the connector. docs/cloudflare-tunnels.md lists the codes it answers.
package cloudflaretest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/workersvpc/connectivity-operator/internal/testutil"
)

// Route names one API call, so faults, counters and the request log can refer to it.
type Route string

// The service calls and token verification.
const (
	RouteList   Route = "list"
	RouteCreate Route = "create"
	RouteGet    Route = "get"
	RouteUpdate Route = "update"
	RouteDelete Route = "delete"
	RouteVerify Route = "verify"
)

// The tunnel (cfd_tunnel) calls.
const (
	RouteTunnelCreate            Route = "tunnel-create"
	RouteTunnelList              Route = "tunnel-list"
	RouteTunnelGet               Route = "tunnel-get"
	RouteTunnelToken             Route = "tunnel-token"
	RouteTunnelDelete            Route = "tunnel-delete"
	RouteTunnelConnectionsDelete Route = "tunnel-connections-delete"
)

// AllRoutes lists every call the fake serves, e.g. to report counts for all of them.
func AllRoutes() []Route {
	return []Route{
		RouteList, RouteCreate, RouteGet, RouteUpdate, RouteDelete, RouteVerify,
		RouteTunnelCreate, RouteTunnelList, RouteTunnelGet, RouteTunnelToken, RouteTunnelDelete,
		RouteTunnelConnectionsDelete,
	}
}

// isTunnelRoute tells the tunnel calls apart: they need the tunnel permission, not Workers VPC.
func isTunnelRoute(r Route) bool {
	switch r {
	case RouteTunnelCreate, RouteTunnelList, RouteTunnelGet, RouteTunnelToken, RouteTunnelDelete,
		RouteTunnelConnectionsDelete:
		return true
	}
	return false
}

const (
	apiPrefix    = "/client/v4"
	maxBodyBytes = 1 << 20
	// statusClientClosed is logged when the client gave up before the fake answered (nginx's
	// convention); nothing is written to the wire then.
	statusClientClosed = 499
)

// Server is the fake API. It is an http.Handler whose state (accounts, credentials, tunnels,
// services, faults, budget and request log) is guarded by one mutex, so tests may call it from
// many goroutines while also changing and inspecting it.
type Server struct {
	// OmitResultInfo drops result_info from list replies, as some live replies do, so clients
	// are tested not to depend on it. Set it before serving, or use SetOmitResultInfo.
	OmitResultInfo bool

	mu       sync.Mutex
	accounts map[string]*account
	creds    []*credential
	credSeq  int
	faults   map[Route][]pendingFault
	latency  time.Duration
	budget   budget
	usage    map[string]*usage // by credential label
	log      []*Request
	lastTime time.Time
}

// account is one Cloudflare account: its services and its tunnels (deleted ones included), by id.
type account struct {
	services map[string]Service
	tunnels  map[string]*tunnelRecord
}

// credential is a registered Credential with its non-secret label and opaque token id.
type credential struct {
	Credential
	label string
	id    string
}

// call is what routing and authentication learned about one request.
type call struct {
	route     Route
	account   string
	serviceID string
	tunnelID  string
	body      []byte
	cred      *credential
	bearer    bool
	entry     *Request
}

// NewServer returns an empty fake: no accounts, credentials or tunnels yet.
func NewServer() *Server {
	return &Server{
		accounts: map[string]*account{},
		faults:   map[Route][]pendingFault{},
		usage:    map[string]*usage{},
	}
}

// SetOmitResultInfo sets OmitResultInfo safely while the server is serving.
func (s *Server) SetOmitResultInfo(omit bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.OmitResultInfo = omit
}

// ServeHTTP answers one API call (or an admin call under /_fake/).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, adminPrefix) {
		s.serveAdmin(w, r)
		return
	}
	c, routeErr := parseRoute(r.Method, r.URL.Path)
	c.entry = s.logArrival(r, c)
	// Reading the body to its end lets net/http watch the connection, so the request's context
	// is cancelled when the client gives up during latency or a hang.
	c.body = readBody(r)
	w.Header().Set("CF-Ray", newRayID())
	res := s.serve(r, &c, routeErr)
	s.logStatus(c.entry, res.status)
	if res.status != statusClientClosed {
		res.write(w)
	}
}

// serve runs the pipeline of one call: latency, routing, authentication, budget,
// authorization, faults, then the call itself.
func (s *Server) serve(r *http.Request, c *call, routeErr *response) response {
	if !sleep(r.Context(), s.currentLatency()) {
		return clientClosed()
	}
	if routeErr != nil {
		return *routeErr
	}
	for _, step := range []func(*http.Request, *call) *response{s.authenticate, s.spend, s.authorize} {
		if res := step(r, c); res != nil {
			return *res
		}
	}
	if f, ok := s.takeFault(c.route); ok {
		return s.faulted(r, c, f)
	}
	return s.handle(r, c)
}

// routes maps a method and a path shape (from splitPath) to the call it is.
var routes = map[string]Route{
	"GET user-verify":    RouteVerify,
	"GET account-verify": RouteVerify,
	"GET services":       RouteList,
	"POST services":      RouteCreate,
	"GET service":        RouteGet,
	"PUT service":        RouteUpdate,
	"DELETE service":     RouteDelete,

	"POST tunnels":              RouteTunnelCreate,
	"GET tunnels":               RouteTunnelList,
	"GET tunnel":                RouteTunnelGet,
	"GET tunnel-token":          RouteTunnelToken,
	"DELETE tunnel":             RouteTunnelDelete,
	"DELETE tunnel-connections": RouteTunnelConnectionsDelete,
}

// parseRoute maps a method and path, with or without the /client/v4 prefix, to a call. It
// rejects unrouted calls, and account ids longer than the schema's 32 characters, which
// Cloudflare refuses to route.
func parseRoute(method, path string) (call, *response) {
	c, shape := splitPath(strings.TrimPrefix(path, apiPrefix))
	c.route = routes[method+" "+shape]
	if c.route == "" {
		return call{}, noRoute()
	}
	if len(c.account) > 32 {
		res := fail(http.StatusNotFound, 7003,
			fmt.Sprintf("Could not route to %s, perhaps your object identifier is invalid?", path))
		return c, &res
	}
	return c, nil
}

// splitPath recognises the path shapes of the API and the ids they carry.
func splitPath(p string) (call, string) {
	if p == "/user/tokens/verify" {
		return call{}, "user-verify"
	}
	seg := strings.Split(p, "/")
	if len(seg) < 4 || seg[0] != "" || seg[1] != "accounts" || seg[2] == "" {
		return call{}, ""
	}
	c := call{account: seg[2]}
	if seg[3] == "cfd_tunnel" {
		return splitTunnelPath(c, seg[4:])
	}
	const services = "connectivity/directory/services"
	switch tail := strings.Join(seg[3:], "/"); {
	case tail == "tokens/verify":
		return c, "account-verify"
	case tail == services:
		return c, "services"
	case len(seg) == 7 && strings.Join(seg[3:6], "/") == services && seg[6] != "":
		c.serviceID = seg[6]
		return c, "service"
	}
	return call{}, ""
}

// splitTunnelPath recognises the cfd_tunnel paths: the collection, one tunnel, its token and
// its connections.
func splitTunnelPath(c call, rest []string) (call, string) {
	if len(rest) == 0 {
		return c, "tunnels"
	}
	if rest[0] == "" {
		return call{}, ""
	}
	c.tunnelID = rest[0]
	switch {
	case len(rest) == 1:
		return c, "tunnel"
	case len(rest) == 2 && rest[1] == "token":
		return c, "tunnel-token"
	case len(rest) == 2 && rest[1] == "connections":
		return c, "tunnel-connections"
	}
	return call{}, ""
}

// authenticate identifies the credential. Verify calls answer their own errors in authorize.
func (s *Server) authenticate(r *http.Request, c *call) *response {
	s.mu.Lock()
	defer s.mu.Unlock()
	cred, scheme := s.lookupCredential(r.Header)
	c.cred, c.bearer = cred, scheme == schemeBearer
	switch {
	case cred != nil:
		c.entry.Credential = cred.label
		return nil
	case scheme != "":
		c.entry.Credential = "unknown"
	}
	if c.route == RouteVerify {
		return nil
	}
	status := http.StatusUnauthorized
	if scheme == schemeKey {
		status = http.StatusForbidden
	}
	res := fail(status, 10000, "Authentication error")
	return &res
}

// Authentication schemes a request can present.
const (
	schemeBearer = "bearer"
	schemeKey    = "key"
)

// lookupCredential finds the credential the headers present; scheme is "bearer", "key", or ""
// when none was presented. The caller holds s.mu.
func (s *Server) lookupCredential(h http.Header) (*credential, string) {
	if auth := h.Get("Authorization"); auth != "" {
		token, ok := strings.CutPrefix(auth, "Bearer ")
		for _, c := range s.creds {
			if ok && c.Token != "" && c.Token == token {
				return c, schemeBearer
			}
		}
		return nil, schemeBearer
	}
	email, key := h.Get("X-Auth-Email"), h.Get("X-Auth-Key")
	if email == "" && key == "" {
		return nil, ""
	}
	for _, c := range s.creds {
		if c.Key != "" && c.Email == email && c.Key == key {
			return c, schemeKey
		}
	}
	return nil, schemeKey
}

// authorize checks the credential against the account and the permission of the call (Workers
// VPC for services, Cloudflare Tunnel Edit for tunnels), or, for the verify calls, checks that a
// token of the right kind was asked at the right endpoint.
func (s *Server) authorize(_ *http.Request, c *call) *response {
	cred := c.cred
	if c.route == RouteVerify {
		if cred == nil || !c.bearer || !cred.verifiesAt(c.account) {
			res := fail(http.StatusUnauthorized, 1000, "Invalid API Token")
			return &res
		}
		return nil
	}
	if !cred.allows(c.account) {
		res := fail(http.StatusForbidden, 10000, "Authentication error")
		return &res
	}
	if isTunnelRoute(c.route) {
		if cred.NoTunnelPermission {
			res := fail(http.StatusForbidden, 10000, "Authentication error")
			return &res
		}
		return nil
	}
	if cred.NoVPCPermission {
		res := fail(http.StatusForbidden, 10196, "not authorized for the requested VPC resource")
		return &res
	}
	return nil
}

// verifiesAt says whether the token verifies at the user endpoint (accountID empty) or at that
// account's endpoint: user tokens only at the first, account-owned tokens only at their accounts'.
func (c *credential) verifiesAt(accountID string) bool {
	if accountID == "" {
		return !c.AccountOwned
	}
	return c.AccountOwned && c.allows(accountID)
}

// allows says whether the credential may act in the account.
func (c *credential) allows(accountID string) bool {
	return slices.Contains(c.Accounts, accountID)
}

// faulted answers an injected fault, after applying the call's change when the fault commits.
func (s *Server) faulted(r *http.Request, c *call, f Fault) response {
	if f.Commit {
		s.handle(r, c)
	}
	if !sleep(r.Context(), f.Hang) {
		return clientClosed()
	}
	return f.response()
}

// handle performs the call itself.
func (s *Server) handle(r *http.Request, c *call) response {
	if res, ok := s.handleTunnel(r, c); ok {
		return res
	}
	switch c.route {
	case RouteList:
		return s.list(c.account, r.URL.Query())
	case RouteCreate:
		return s.create(c.account, c.body)
	case RouteGet:
		return s.get(c.account, c.serviceID)
	case RouteUpdate:
		return s.update(c.account, c.serviceID, c.body)
	case RouteDelete:
		return s.delete(c.account, c.serviceID)
	default:
		return s.verify(c.cred)
	}
}

// readBody reads at most maxBodyBytes; a read error leaves a body that fails to parse.
func readBody(r *http.Request) []byte {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes))
	if err != nil {
		return nil
	}
	return body
}

func (s *Server) currentLatency() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.latency
}

// sleep waits d, or returns false as soon as the client gives up.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// newRayID makes a CF-Ray value shaped like the live one: 16 hex characters and a colo.
func newRayID() string {
	return testutil.RandomHex(8) + "-SJC"
}

// newUUID makes a random (version 4) UUID for service, tunnel and connection ids.
func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// now returns a strictly increasing UTC time at microsecond precision, so services created in
// the same instant still sort in creation order. The caller holds s.mu.
func (s *Server) now() time.Time {
	t := time.Now().UTC().Truncate(time.Microsecond)
	if !t.After(s.lastTime) {
		t = s.lastTime.Add(time.Microsecond)
	}
	s.lastTime = t
	return t
}

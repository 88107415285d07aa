package cloudflaretest

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/workersvpc/connectivity-operator/internal/testutil"
)

// Credential is an API token or legacy key pair the fake accepts, with the accounts it may use
// and the permission quirks a test needs to provoke.
type Credential struct {
	// Token is an API token, sent as "Authorization: Bearer <token>".
	Token string
	// Email and Key are the legacy pair, sent as X-Auth-Email and X-Auth-Key.
	Email, Key string
	// Accounts are the account ids this credential may use.
	Accounts []string
	// AccountOwned makes the token verify at /accounts/{id}/tokens/verify instead of
	// /user/tokens/verify, as account-owned tokens do.
	AccountOwned bool
	// NoVPCPermission authenticates but answers 403 code 10196 on the service calls, like a
	// token without a Connectivity Directory role. Tunnel calls are not affected.
	NoVPCPermission bool
	// NoTunnelPermission authenticates but answers 403 code 10000 ("Authentication error") on
	// the tunnel calls, like a token without "Cloudflare Tunnel Edit". Service calls are not
	// affected.
	NoTunnelPermission bool
}

// AddAccount makes an account known. Credentials, tunnels and Seed add their accounts too.
func (s *Server) AddAccount(accountID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.account(accountID)
}

// AddCredential registers a credential, or replaces the one with the same token or key pair
// (keeping its label, so a test can change a credential's accounts or permissions in place).
func (s *Server) AddCredential(c Credential) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.Accounts = slices.Clone(c.Accounts)
	for _, id := range c.Accounts {
		s.account(id)
	}
	for i, old := range s.creds {
		if (c.Token != "" && old.Token == c.Token) || (c.Key != "" && old.Email == c.Email && old.Key == c.Key) {
			s.creds[i] = &credential{Credential: c, label: old.label, id: old.id}
			return
		}
	}
	s.credSeq++
	kind := "token"
	if c.Token == "" {
		kind = schemeKey
	}
	s.creds = append(s.creds, &credential{
		Credential: c,
		label:      fmt.Sprintf("%s#%d", kind, s.credSeq),
		id:         testutil.RandomHex(16),
	})
}

// RemoveCredential revokes the credential with this token or key, e.g. a rotated-out token.
func (s *Server) RemoveCredential(tokenOrKey string) {
	if tokenOrKey == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.creds = slices.DeleteFunc(s.creds, func(c *credential) bool {
		return c.Token == tokenOrKey || c.Key == tokenOrKey
	})
}

// Services returns the account's services, sorted by CreatedAt then ID, for assertions on the
// remote state. They are copies: changing them changes nothing in the fake.
func (s *Server) Services(accountID string) []Service {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sortedServices(accountID)
}

// Service returns one service by id, for assertions on the remote state.
func (s *Server) Service(accountID, id string) (Service, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	svc, found := s.account(accountID).services[id]
	return svc.clone(), found
}

// Seed creates a service directly, without validation or a logged request, to set up a test's
// starting state (e.g. an orphan to adopt, or a name conflict). It assigns a UUID unless svc.ID
// is set, and timestamps unless they are set.
func (s *Server) Seed(accountID string, svc Service) Service {
	s.mu.Lock()
	defer s.mu.Unlock()
	svc = svc.clone()
	if svc.ID == "" {
		svc.ID = newUUID()
	}
	now := s.now()
	if svc.CreatedAt.IsZero() {
		svc.CreatedAt = now
	}
	if svc.UpdatedAt.IsZero() {
		svc.UpdatedAt = now
	}
	s.account(accountID).services[svc.ID] = svc
	return svc.clone()
}

// Modify changes a service directly, as someone editing it in the dashboard would (drift). It
// keeps the id, bumps updated_at, and reports whether the service exists. fn runs without the
// fake's lock held, so it may call the fake; it edits a copy that is then stored.
func (s *Server) Modify(accountID, id string, fn func(*Service)) bool {
	svc, found := s.Service(accountID, id)
	if !found {
		return false
	}
	fn(&svc)
	s.mu.Lock()
	defer s.mu.Unlock()
	acct := s.account(accountID)
	if _, found := acct.services[id]; !found {
		return false
	}
	svc = svc.clone()
	svc.ID, svc.UpdatedAt = id, s.now()
	acct.services[id] = svc
	return true
}

// Remove deletes a service directly, as someone deleting it in the dashboard would, and reports
// whether it existed.
func (s *Server) Remove(accountID, id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	acct := s.account(accountID)
	_, found := acct.services[id]
	delete(acct.services, id)
	return found
}

// account returns the account, creating it on first use. The caller holds s.mu.
func (s *Server) account(id string) *account {
	a, found := s.accounts[id]
	if !found {
		a = &account{services: map[string]Service{}, tunnels: map[string]*tunnelRecord{}}
		s.accounts[id] = a
	}
	return a
}

// sortedServices copies the account's services in list order. The caller holds s.mu.
func (s *Server) sortedServices(accountID string) []Service {
	out := make([]Service, 0, len(s.account(accountID).services))
	for _, svc := range s.account(accountID).services {
		out = append(out, svc.clone())
	}
	slices.SortFunc(out, func(a, b Service) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out
}

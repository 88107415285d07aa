package cloudflaretest

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
)

const (
	defaultPerPage = 20
	maxPerPage     = 1000
)

// list answers one page of the account's services, optionally filtered by type.
func (s *Server) list(accountID string, q url.Values) response {
	page, err := queryInt(q, "page", 1)
	if err != nil {
		return fail(http.StatusBadRequest, 5102, err.Error())
	}
	perPage, err := queryInt(q, "per_page", defaultPerPage)
	if err != nil {
		return fail(http.StatusBadRequest, 5102, err.Error())
	}
	perPage = min(perPage, maxPerPage)
	typ := q.Get("type")
	if typ != "" && typ != "http" && typ != "tcp" {
		return fail(http.StatusBadRequest, 5102, "invalid query: type must be http or tcp")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	all := slices.DeleteFunc(s.sortedServices(accountID), func(svc Service) bool {
		return typ != "" && svc.Type != typ
	})
	return pageOf(all, page, perPage, s.OmitResultInfo)
}

// pageOf answers one page of a filtered, ordered list, with result_info unless omitted. A page
// past the end is an empty array (page is not multiplied before the range check, so a huge
// page cannot overflow).
func pageOf[T any](all []T, page, perPage int, omitInfo bool) response {
	start := len(all)
	if page-1 <= len(all)/perPage {
		start = min((page-1)*perPage, len(all))
	}
	items := all[start:min(start+perPage, len(all))]
	res := ok(items)
	if !omitInfo {
		res.env.ResultInfo = &resultInfo{
			Page: page, PerPage: perPage, Count: len(items), TotalCount: len(all),
			TotalPages: (len(all) + perPage - 1) / perPage,
		}
	}
	return res
}

// queryInt reads a positive integer query parameter, def when absent.
func queryInt(q url.Values, name string, def int) (int, error) {
	v := q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("invalid query: %s must be an integer of at least 1", name)
	}
	return n, nil
}

func (s *Server) create(accountID string, body []byte) response {
	svc, err := parseService(body)
	if err != nil {
		return invalidBody(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	acct := s.account(accountID)
	if res := acct.conflicts(svc, ""); res != nil {
		return *res
	}
	now := s.now()
	svc.ID, svc.CreatedAt, svc.UpdatedAt = newUUID(), now, now
	acct.services[svc.ID] = svc
	return ok(svc.clone())
}

func (s *Server) get(accountID, id string) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	svc, found := s.account(accountID).services[id]
	if !found {
		return notFound()
	}
	return ok(svc.clone())
}

// update replaces the service whole. Like the live API it resets created_at too.
func (s *Server) update(accountID, id string, body []byte) response {
	svc, err := parseService(body)
	if err != nil {
		return invalidBody(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	acct := s.account(accountID)
	if _, found := acct.services[id]; !found {
		return notFound()
	}
	if res := acct.conflicts(svc, id); res != nil {
		return *res
	}
	now := s.now()
	svc.ID, svc.CreatedAt, svc.UpdatedAt = id, now, now
	acct.services[id] = svc
	return ok(svc.clone())
}

func (s *Server) delete(accountID, id string) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	acct := s.account(accountID)
	if _, found := acct.services[id]; !found {
		return notFound()
	}
	delete(acct.services, id)
	return ok(nil)
}

// verify answers an active token; authorize has already rejected everything else.
func (s *Server) verify(cred *credential) response {
	res := ok(map[string]string{"id": cred.id, "status": "active"})
	res.env.Messages = []message{{Code: 10000, Message: "This API Token is valid and active"}}
	return res
}

// invalidBody is the reply to a body parseService rejected.
func invalidBody(err error) response {
	return fail(http.StatusBadRequest, 5102, err.Error())
}

// conflicts checks what only the account can tell: the name is free (ignoring the service
// being updated), then the tunnel exists and is not deleted. Both are code 5101, told apart by
// the message.
func (a *account) conflicts(svc Service, selfID string) *response {
	for id, other := range a.services {
		if id != selfID && other.Name == svc.Name {
			res := fail(http.StatusBadRequest, 5101, fmt.Sprintf("service with name %q already exists", svc.Name))
			return &res
		}
	}
	if a.liveTunnel(svc.Host.tunnelID()) == nil {
		res := fail(http.StatusBadRequest, 5101, "Tunnel ID Not Found")
		return &res
	}
	return nil
}

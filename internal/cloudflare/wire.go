package cloudflare

import (
	"encoding/json"
	"time"

	"github.com/cloudflare/cloudflare-go/v7/option"
)

// envelope is the v4 reply, decoded leniently: unknown fields are ignored and success is
// optional, because Workers VPC is in beta.
type envelope struct {
	Success    *bool           `json:"success"`
	Errors     []envelopeError `json:"errors"`
	Result     json.RawMessage `json:"result"`
	ResultInfo *resultInfo     `json:"result_info"`
}

// resultInfo is a list reply's paging block. Live replies have been seen without it, so it only
// ever saves a call, never decides that there is nothing more.
type resultInfo struct {
	TotalPages *int64 `json:"total_pages"`
	// PerPage is kept raw and read leniently (perPage), so an odd value cannot fail the reply.
	PerPage json.RawMessage `json:"per_page"`
}

// perPage is the page size the server says it used; zero when absent or not a number.
func (r *resultInfo) perPage() int64 {
	var n float64
	if r == nil || json.Unmarshal(r.PerPage, &n) != nil || n < 1 {
		return 0
	}
	return int64(n)
}

// envelopeError is one entry of the envelope's errors array.
type envelopeError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// failed reports an envelope that says it failed even though the HTTP status was 2xx.
func (e envelope) failed() bool { return e.Success != nil && !*e.Success }

// first returns the first error entry, if any; the array can be empty or missing.
func (e envelope) first() (envelopeError, bool) {
	if len(e.Errors) == 0 {
		return envelopeError{}, false
	}
	return e.Errors[0], true
}

// wireService decodes a service without failing on timestamps the API formats unexpectedly:
// the shallower created_at/updated_at fields shadow the embedded time.Time ones.
type wireService struct {
	Service
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
}

// decodeService turns one result object into a Service.
func decodeService(raw json.RawMessage) (Service, error) {
	var w wireService
	if err := json.Unmarshal(raw, &w); err != nil {
		return Service{}, err
	}
	svc := w.Service
	svc.CreatedAt = parseTime(w.CreatedAt)
	svc.UpdatedAt = parseTime(w.UpdatedAt)
	return svc, nil
}

// parseTime reads an RFC 3339 timestamp; anything else becomes the zero time.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// requestBody is the body of both create and update (the API takes the same shape for both),
// encoded once with encoding/json so the omitempty tags of Service and Host hold (the SDK's own
// encoder would send empty strings for the unused host keys). It goes out through the SDK's
// request-body option, which replaces whatever the call's params would encode; the params then
// carry only the account id.
func requestBody(method string, svc Service) (option.RequestOption, error) {
	svc.ID, svc.CreatedAt, svc.UpdatedAt = "", time.Time{}, time.Time{} // read-only fields
	b, err := json.Marshal(svc)
	if err != nil {
		return nil, invalidBody(method, err)
	}
	return option.WithRequestBody("application/json", b), nil
}

// invalidBody reports a service that could not be encoded; no call was made.
func invalidBody(method string, err error) error {
	return &APIError{Kind: ErrInvalid, Method: method, Message: "encoding the service: " + err.Error()}
}

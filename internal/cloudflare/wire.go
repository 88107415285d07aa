package cloudflare

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/cloudflare/cloudflare-go/v6/connectivity"
)

// The SDK's param.Field lives in an internal package and its helper cloudflare.F sits in the
// SDK's root package, which imports every one of its ~130 service packages (minutes of compile
// time and a much larger binary). So fields are set directly: Value plus Present, which is all
// cloudflare.F does. A field left unset is absent from the JSON body.

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

// bodyParts are the JSON fragments that go into the SDK's interface{} fields. They are
// marshalled with encoding/json so the omitempty tags of Host hold (the SDK's own encoder
// would send empty strings for the unused host keys).
type bodyParts struct {
	host json.RawMessage
	tls  json.RawMessage
}

// marshalParts prepares the host and, when set, the TLS settings.
func marshalParts(svc Service) (bodyParts, error) {
	var parts bodyParts
	var err error
	if parts.host, err = json.Marshal(svc.Host); err != nil {
		return parts, err
	}
	if svc.TLSSettings != nil {
		parts.tls, err = json.Marshal(svc.TLSSettings)
	}
	return parts, err
}

// newParams builds the create call; optional fields are sent only when set.
func newParams(accountID string, svc Service) (connectivity.DirectoryServiceNewParams, error) {
	var p connectivity.DirectoryServiceNewParams
	parts, err := marshalParts(svc)
	if err != nil {
		return p, invalidBody(http.MethodPost, err)
	}
	var b connectivity.DirectoryServiceNewParamsBody
	b.Name.Value, b.Name.Present = svc.Name, true
	b.Type.Value, b.Type.Present = connectivity.DirectoryServiceNewParamsBodyType(svc.Type), true
	b.Host.Value, b.Host.Present = parts.host, true
	if parts.tls != nil {
		b.TLSSettings.Value, b.TLSSettings.Present = parts.tls, true
	}
	if svc.AppProtocol != "" {
		b.AppProtocol.Value, b.AppProtocol.Present = connectivity.DirectoryServiceNewParamsBodyAppProtocol(svc.AppProtocol), true
	}
	b.HTTPPort.Value, b.HTTPPort.Present = port(svc.HTTPPort)
	b.HTTPSPort.Value, b.HTTPSPort.Present = port(svc.HTTPSPort)
	b.TCPPort.Value, b.TCPPort.Present = port(svc.TCPPort)
	p.AccountID.Value, p.AccountID.Present = accountID, true
	p.Body = b
	return p, nil
}

// updateParams builds the full-replace PUT; the same shape as create under other SDK types.
func updateParams(accountID string, svc Service) (connectivity.DirectoryServiceUpdateParams, error) {
	var p connectivity.DirectoryServiceUpdateParams
	parts, err := marshalParts(svc)
	if err != nil {
		return p, invalidBody(http.MethodPut, err)
	}
	var b connectivity.DirectoryServiceUpdateParamsBody
	b.Name.Value, b.Name.Present = svc.Name, true
	b.Type.Value, b.Type.Present = connectivity.DirectoryServiceUpdateParamsBodyType(svc.Type), true
	b.Host.Value, b.Host.Present = parts.host, true
	if parts.tls != nil {
		b.TLSSettings.Value, b.TLSSettings.Present = parts.tls, true
	}
	if svc.AppProtocol != "" {
		b.AppProtocol.Value, b.AppProtocol.Present = connectivity.DirectoryServiceUpdateParamsBodyAppProtocol(svc.AppProtocol), true
	}
	b.HTTPPort.Value, b.HTTPPort.Present = port(svc.HTTPPort)
	b.HTTPSPort.Value, b.HTTPSPort.Present = port(svc.HTTPSPort)
	b.TCPPort.Value, b.TCPPort.Present = port(svc.TCPPort)
	p.AccountID.Value, p.AccountID.Present = accountID, true
	p.Body = b
	return p, nil
}

// port converts an optional port to the SDK's field value and presence.
func port(p *int32) (int64, bool) {
	if p == nil {
		return 0, false
	}
	return int64(*p), true
}

// invalidBody reports a service that could not be encoded; no call was made.
func invalidBody(method string, err error) error {
	return &APIError{Kind: ErrInvalid, Method: method, Message: "encoding the service: " + err.Error()}
}

package cloudflare

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/cloudflare/cloudflare-go/v7/option"
)

// maxErrorBody caps how much of a failed reply is read; envelopes are small, edge pages are not.
const maxErrorBody = 1 << 20

// call is one SDK request and what it left behind. The SDK decodes into its own union types;
// instead the raw body and response are captured here and decoded leniently into Service.
type call struct {
	ctx     context.Context
	method  string
	path    string
	timeout time.Duration
	redact  redactor
	res     *http.Response
	body    []byte
}

// newCall starts a call; path names it in errors (no query string).
func (c *sdkClient) newCall(ctx context.Context, method, path string) *call {
	return &call{ctx: ctx, method: method, path: path, timeout: c.timeout, redact: c.redactValue}
}

// options make the SDK hand over the raw response and body instead of decoding them.
func (c *call) options() []option.RequestOption {
	return []option.RequestOption{
		option.WithResponseInto(&c.res),
		option.WithResponseBodyInto(&c.body),
	}
}

// envelope turns the SDK's outcome into the decoded envelope or an *APIError.
func (c *call) envelope(sdkErr error) (envelope, error) {
	if sdkErr != nil {
		return envelope{}, c.fail(sdkErr)
	}
	var env envelope
	if len(bytes.TrimSpace(c.body)) == 0 {
		return env, nil // e.g. a bare 200 to a delete; callers that need a result check for it
	}
	if err := json.Unmarshal(c.body, &env); err != nil {
		return env, c.replyError("unreadable response body")
	}
	if env.failed() {
		return env, c.responseError(c.res.StatusCode, c.res.Header, c.body)
	}
	return env, nil
}

// service decodes a single-service reply.
func (c *call) service(sdkErr error) (*Service, error) {
	env, err := c.envelope(sdkErr)
	if err != nil {
		return nil, err
	}
	if isNull(env.Result) {
		return nil, c.replyError("reply has no result")
	}
	svc, err := decodeService(env.Result)
	if err != nil {
		return nil, c.replyError("unreadable service in reply")
	}
	return &svc, nil
}

// services decodes a list reply; a null or missing result is an empty page. last is true when
// the reply's result_info says this was the last page.
func (c *call) services(sdkErr error, page int64) (items []Service, last bool, err error) {
	env, err := c.envelope(sdkErr)
	if err != nil || isNull(env.Result) {
		return nil, false, err
	}
	last = env.ResultInfo != nil && env.ResultInfo.TotalPages != nil && page >= *env.ResultInfo.TotalPages
	var raws []json.RawMessage
	if err := json.Unmarshal(env.Result, &raws); err != nil {
		return nil, false, c.replyError("list result is not an array")
	}
	out := make([]Service, 0, len(raws))
	for _, raw := range raws {
		svc, err := decodeService(raw)
		if err != nil {
			return nil, false, c.replyError("unreadable service in list")
		}
		out = append(out, svc)
	}
	return out, last, nil
}

// tokenStatus decodes a tokens/verify reply down to result.status.
func (c *call) tokenStatus(sdkErr error) (string, error) {
	env, err := c.envelope(sdkErr)
	if err != nil {
		return "", err
	}
	var result struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(env.Result, &result); err != nil && !isNull(env.Result) {
		return "", c.replyError("unreadable token status")
	}
	return result.Status, nil
}

// fail maps an SDK error. With retries off, the SDK stores the response (when one arrived)
// before it decodes the error body, so the status, headers and raw body are read from there:
// that also covers HTML bodies, where the SDK's own error decoding fails.
//
// Cancellation by the caller becomes ErrTransient too, with the context's error chained, so
// both errors.Is(err, ErrTransient) and errors.Is(err, context.Canceled) hold: the controller
// needs no extra branch, and shutdown code can still tell a cancel apart.
func (c *call) fail(sdkErr error) error {
	if ctxErr := c.ctx.Err(); ctxErr != nil {
		return c.transient(ctxErr)
	}
	if c.res != nil && c.res.StatusCode >= 400 {
		body, _ := io.ReadAll(io.LimitReader(c.res.Body, maxErrorBody))
		return c.responseError(c.res.StatusCode, c.res.Header, body)
	}
	if errors.Is(sdkErr, context.DeadlineExceeded) {
		return c.transient(fmt.Errorf("no response within %s: %w", c.timeout, sdkErr))
	}
	if urlErr, ok := errors.AsType[*url.Error](sdkErr); ok {
		sdkErr = urlErr.Err // its text repeats the whole URL
	}
	return c.transient(sdkErr)
}

// transient wraps a failure without an API reply (timeout, connection error, cancellation).
func (c *call) transient(cause error) error {
	apiErr := &APIError{Kind: ErrTransient, Method: c.method, Path: c.path}
	return fmt.Errorf("%w: %w", apiErr, c.redact.wrap(cause))
}

// responseError builds the *APIError for a reply: status, first envelope error, CF-Ray and,
// for a 429, Retry-After.
func (c *call) responseError(status int, header http.Header, body []byte) error {
	var env envelope
	_ = json.Unmarshal(body, &env) // HTML or empty bodies leave env empty
	first, _ := env.first()
	apiErr := &APIError{
		Kind:       classify(status, first.Code, first.Message),
		Method:     c.method,
		Path:       c.path,
		StatusCode: status,
		Code:       first.Code,
		Message:    c.redact.apply(first.Message),
		RayID:      header.Get("CF-Ray"),
	}
	if status == http.StatusTooManyRequests {
		apiErr.RetryAfter = parseRetryAfter(header.Get("Retry-After"))
	}
	return apiErr
}

// replyError reports a 2xx reply that could not be used; the API or a proxy misbehaved, so it
// is worth a retry.
func (c *call) replyError(msg string) error {
	apiErr := &APIError{Kind: ErrTransient, Method: c.method, Path: c.path, Message: msg}
	if c.res != nil {
		apiErr.StatusCode = c.res.StatusCode
		apiErr.RayID = c.res.Header.Get("CF-Ray")
	}
	return apiErr
}

// isNull reports a missing or JSON-null result.
func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

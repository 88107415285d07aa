package cloudflare

import (
	"encoding/json"
	"time"
)

// wireTunnel is a tunnel reply, decoded leniently like services: unknown fields are ignored,
// timestamps that do not parse become zero. The SDK's own type has no token field, yet a
// create of a remotely managed tunnel answers one, so the raw body is read here.
type wireTunnel struct {
	ID          string           `json:"id"`
	Name        string           `json:"name"`
	Status      string           `json:"status"`
	CreatedAt   string           `json:"created_at"`
	DeletedAt   *string          `json:"deleted_at"`
	Connections []wireConnection `json:"connections"`
	Token       string           `json:"token"`
}

// wireConnection is one entry of a tunnel's connections; only its liveness matters here.
type wireConnection struct {
	IsPendingReconnect bool `json:"is_pending_reconnect"`
}

// tunnel converts the reply to the operator's model, counting the live connections.
func (w wireTunnel) tunnel() Tunnel {
	t := Tunnel{ID: w.ID, Name: w.Name, Status: w.Status, CreatedAt: parseTime(w.CreatedAt)}
	for _, conn := range w.Connections {
		if !conn.IsPendingReconnect {
			t.Connections++
		}
	}
	return t
}

// deleted reports a deleted_at that is set: null, empty and the zero time mean not deleted, and
// a value that does not parse counts as deleted, since only a deleted tunnel has one.
func (w wireTunnel) deleted() bool {
	if w.DeletedAt == nil || *w.DeletedAt == "" {
		return false
	}
	t, err := time.Parse(time.RFC3339Nano, *w.DeletedAt)
	return err != nil || !t.IsZero()
}

// tunnelReply decodes a single-tunnel reply; a tunnel without an id is unusable.
func (c *call) tunnelReply(sdkErr error) (wireTunnel, error) {
	env, err := c.envelope(sdkErr)
	if err != nil {
		return wireTunnel{}, err
	}
	if isNull(env.Result) {
		return wireTunnel{}, c.replyError("reply has no result")
	}
	var w wireTunnel
	if err := json.Unmarshal(env.Result, &w); err != nil || w.ID == "" {
		return wireTunnel{}, c.replyError("unreadable tunnel in reply")
	}
	return w, nil
}

// tunnelPage decodes a list page. last is true when result_info's total_pages says so or, without
// it, when the page came back shorter than the page size the server echoed (or the one asked
// for): a server that caps per_page below what was asked must not end the list early.
func (c *call) tunnelPage(sdkErr error, page, asked int64) (items []wireTunnel, last bool, err error) {
	env, err := c.envelope(sdkErr)
	if err != nil || isNull(env.Result) {
		return nil, true, err
	}
	if err := json.Unmarshal(env.Result, &items); err != nil {
		return nil, false, c.replyError("tunnel list result is not an array of tunnels")
	}
	return items, env.lastPage(page, len(items), asked), nil
}

// lastPage reads result_info when present; see tunnelPage.
func (e envelope) lastPage(page int64, got int, asked int64) bool {
	if e.ResultInfo != nil && e.ResultInfo.TotalPages != nil {
		return page >= *e.ResultInfo.TotalPages
	}
	if n := e.ResultInfo.perPage(); n > 0 {
		asked = n
	}
	return int64(got) < asked
}

// goneError reports a reply that exists but means "gone", such as a deleted tunnel.
func (c *call) goneError(msg string) error {
	apiErr := &APIError{Kind: ErrNotFound, Method: c.method, Path: c.path, Message: msg}
	if c.res != nil {
		apiErr.StatusCode = c.res.StatusCode
		apiErr.RayID = c.res.Header.Get("CF-Ray")
	}
	return apiErr
}

package cloudflaretest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// envelope is the body of every API reply.
type envelope struct {
	Success    bool        `json:"success"`
	Errors     []message   `json:"errors"`
	Messages   []message   `json:"messages"`
	Result     any         `json:"result"`
	ResultInfo *resultInfo `json:"result_info,omitempty"`
}

// message is one entry of the envelope's errors or messages arrays.
type message struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// resultInfo is the pagination block of list replies.
type resultInfo struct {
	Page       int `json:"page"`
	PerPage    int `json:"per_page"`
	Count      int `json:"count"`
	TotalCount int `json:"total_count"`
	TotalPages int `json:"total_pages"`
}

// response is a reply decided but not yet written, so a commit-then-fail fault can run the
// real handling and throw its reply away.
type response struct {
	status     int
	env        envelope
	html       bool
	retryAfter time.Duration
}

func ok(result any) response {
	return response{status: http.StatusOK, env: envelope{
		Success: true, Errors: []message{}, Messages: []message{}, Result: result,
	}}
}

// fail is an error reply; code 0 leaves the errors array empty.
func fail(status, code int, msg string) response {
	errs := []message{}
	if code != 0 {
		errs = append(errs, message{Code: code, Message: msg})
	}
	return response{status: status, env: envelope{Errors: errs, Messages: []message{}}}
}

func noRoute() *response {
	res := fail(http.StatusNotFound, 7000, "No route for that URI")
	return &res
}

func notFound() response {
	return fail(http.StatusNotFound, 5104, "service not found")
}

func clientClosed() response {
	return response{status: statusClientClosed}
}

// rateLimited is the live API's 429.
func rateLimited(retryAfter time.Duration) *response {
	res := fail(http.StatusTooManyRequests, 971, "Please wait and consider throttling your request speed")
	res.retryAfter = retryAfter
	return &res
}

// write sends the reply. CF-Ray is set by the caller for every reply.
func (res response) write(w http.ResponseWriter) {
	h := w.Header()
	if res.retryAfter > 0 {
		h.Set("Retry-After", strconv.FormatInt(int64((res.retryAfter+time.Second-1)/time.Second), 10))
	}
	if res.html {
		h.Set("Content-Type", "text/html")
		w.WriteHeader(res.status)
		text := fmt.Sprintf("%d %s", res.status, http.StatusText(res.status))
		_, _ = fmt.Fprintf(w, "<html>\r\n<head><title>%s</title></head>\r\n<body>\r\n<center><h1>%s</h1></center>\r\n"+
			"<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n", text, text)
		return
	}
	body, err := json.Marshal(res.env)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(res.status)
	_, _ = w.Write(body)
}

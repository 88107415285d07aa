package cloudflare

import (
	"encoding/base64"
	"encoding/hex"
	"regexp"
	"slices"
	"strings"
)

// redactor removes the credential values from text that came from elsewhere (API messages,
// transport errors), so a server or proxy echoing a header cannot leak a secret into an error.
// It also removes a call's own secrets (a tunnel secret) and anything shaped like a connector
// token, which a server could echo before the client ever saw it.
type redactor struct {
	secrets []string
}

// base64Run finds candidates for connector tokens: long runs of the base64 alphabets. A real
// token is well over 100 characters; 40 also catches a truncated one.
var base64Run = regexp.MustCompile(`[A-Za-z0-9+/_-]{40,}={0,2}`)

// newRedactor collects the non-empty credential parts.
func newRedactor(c Credentials) redactor {
	var r redactor
	for _, s := range []string{c.APIToken, c.APIKey, c.Email} {
		if s != "" {
			r.secrets = append(r.secrets, s)
		}
	}
	return r
}

// withBytes returns a redactor that also removes secret in the encodings an API message could
// quote it in (base64 in both alphabets, padded or not, and hex).
func (r redactor) withBytes(secret []byte) redactor {
	if len(secret) == 0 {
		return r
	}
	out := redactor{secrets: slices.Clone(r.secrets)}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		out.secrets = append(out.secrets, enc.EncodeToString(secret))
	}
	out.secrets = append(out.secrets, hex.EncodeToString(secret), string(secret))
	return out
}

// apply replaces every credential and call secret in s, then every connector token.
func (r redactor) apply(s string) string {
	for _, secret := range r.secrets {
		s = strings.ReplaceAll(s, secret, "[redacted]")
	}
	return base64Run.ReplaceAllStringFunc(s, func(run string) string {
		if looksLikeConnectorToken(run) {
			return "[redacted]"
		}
		return run
	})
}

// String keeps the secrets out of any accidental print.
func (r redactor) String() string { return "redactor" }

// GoString keeps %#v as safe as %v.
func (r redactor) GoString() string { return r.String() }

// redactedError is a transport error whose text had the credentials removed when it was made
// (it keeps no secrets itself); errors.Is still sees the original (context.Canceled, net errors).
type redactedError struct {
	msg   string
	cause error
}

// wrap returns err with its text cleaned.
func (r redactor) wrap(err error) error {
	return redactedError{msg: r.apply(err.Error()), cause: err}
}

// Error returns the cause's text without credentials.
func (e redactedError) Error() string { return e.msg }

// Unwrap exposes the cause to errors.Is and errors.As.
func (e redactedError) Unwrap() error { return e.cause }

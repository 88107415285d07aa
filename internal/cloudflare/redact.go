package cloudflare

import "strings"

// redactor removes the credential values from text that came from elsewhere (API messages,
// transport errors), so a server or proxy echoing a header cannot leak a secret into an error.
type redactor struct {
	secrets []string
}

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

// apply replaces every credential value in s.
func (r redactor) apply(s string) string {
	for _, secret := range r.secrets {
		s = strings.ReplaceAll(s, secret, "[redacted]")
	}
	return s
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

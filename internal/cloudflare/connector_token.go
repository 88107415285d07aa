package cloudflare

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// redactedToken is what every print, log or JSON encoding of a ConnectorToken shows.
const redactedToken = "connector-token(redacted)"

// ConnectorToken is the secret a cloudflared connector runs with (TUNNEL_TOKEN): whoever holds it
// can serve the tunnel's traffic. It prints, logs and marshals as "connector-token(redacted)",
// so it can travel in structs that get logged; only Reveal returns the value, for the one place
// that writes it into the connector's Secret.
//
// The value sits behind a pointer: fmt cannot call methods on unexported struct fields and prints
// their contents raw, but it prints a nested pointer as an address, so even a struct that holds
// a ConnectorToken in an unexported field never prints the token.
type ConnectorToken struct {
	secret *string
}

// NewConnectorToken wraps a raw token; an empty raw token gives the zero ConnectorToken.
func NewConnectorToken(raw string) ConnectorToken {
	if raw == "" {
		return ConnectorToken{}
	}
	return ConnectorToken{secret: &raw}
}

// Reveal returns the raw token. Call it only to hand the token to cloudflared.
func (t ConnectorToken) Reveal() string {
	if t.secret == nil {
		return ""
	}
	return *t.secret
}

// IsZero reports a missing token, e.g. a create reply that carried none.
func (t ConnectorToken) IsZero() bool { return t.secret == nil }

// Equal compares two tokens in constant time; == compares the pointers, not the tokens.
func (t ConnectorToken) Equal(other ConnectorToken) bool {
	return subtle.ConstantTimeCompare([]byte(t.Reveal()), []byte(other.Reveal())) == 1
}

// String keeps the token out of any accidental print.
func (t ConnectorToken) String() string { return redactedToken }

// GoString keeps %#v as safe as %v.
func (t ConnectorToken) GoString() string { return redactedToken }

// Format makes every verb (%v, %+v, %#v, %s, %q, %x) print the redacted text.
func (t ConnectorToken) Format(f fmt.State, _ rune) { _, _ = fmt.Fprint(f, redactedToken) }

// MarshalJSON keeps the token out of JSON logs and API objects that embed it by mistake.
func (t ConnectorToken) MarshalJSON() ([]byte, error) { return json.Marshal(redactedToken) }

// MarshalText keeps the token out of text encoders (and map keys).
func (t ConnectorToken) MarshalText() ([]byte, error) { return []byte(redactedToken), nil }

// LogValue keeps the token out of slog output.
func (t ConnectorToken) LogValue() slog.Value { return slog.StringValue(redactedToken) }

// tokenContent is the decoded connector token, as cloudflared reads it.
type tokenContent struct {
	AccountTag string `json:"a"`
	TunnelID   string `json:"t"`
	Secret     string `json:"s"`
}

// errMalformedToken is the one error Parse returns; it never quotes the token.
var errMalformedToken = errors.New("cloudflare: connector token is malformed")

// Parse decodes the token (base64 of the JSON {"a": account tag, "t": tunnel id, "s": base64
// secret}) into the tunnel id and the secret bytes. The controller uses it to prove that a tunnel
// found by name is the one its own create made: it chose the secret. The error never contains
// the token or parts of it.
func (t ConnectorToken) Parse() (tunnelID string, secret []byte, err error) {
	raw, ok := decodeBase64(strings.TrimSpace(t.Reveal()))
	if !ok {
		return "", nil, fmt.Errorf("%w: not base64", errMalformedToken)
	}
	var c tokenContent
	if json.Unmarshal(raw, &c) != nil {
		return "", nil, fmt.Errorf("%w: not a JSON object", errMalformedToken)
	}
	secret, ok = decodeBase64(c.Secret)
	if c.TunnelID == "" || !ok || len(secret) == 0 {
		return "", nil, fmt.Errorf("%w: tunnel id or secret missing", errMalformedToken)
	}
	return c.TunnelID, secret, nil
}

// decodeBase64 accepts the standard alphabet (what Cloudflare and cloudflared use) and, to be
// lenient, the URL alphabet, padded or not.
func decodeBase64(s string) ([]byte, bool) {
	if s == "" {
		return nil, false
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, true
		}
	}
	return nil, false
}

// looksLikeConnectorToken reports a base64 run that decodes to a connector token's JSON, so the
// redactor can remove tokens it was never told about (a server echoing one in an error).
func looksLikeConnectorToken(s string) bool {
	raw, ok := decodeBase64(s)
	if !ok {
		return false
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil {
		return false
	}
	_, hasSecret := fields["s"]
	_, hasTunnel := fields["t"]
	return hasSecret || hasTunnel
}

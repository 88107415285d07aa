package cloudflare_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/workersvpc/connectivity-operator/internal/cloudflare"
)

func TestConnectorTokenParse(t *testing.T) {
	raw := connectorTokenFor(tunnelSecret)
	id, secret, err := cloudflare.NewConnectorToken(raw).Parse()
	if err != nil || id != testTunnel || !bytes.Equal(secret, tunnelSecret) {
		t.Fatalf("Parse = %s, %q, %v", id, secret, err)
	}
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	malformed := map[string]string{
		"empty":                "",
		"not base64":           "!!!" + raw,
		"not JSON":             b64("SENTINEL-not-json"),
		"JSON array":           b64(`["SENTINEL"]`),
		"no tunnel id":         b64(`{"a":"x","s":"` + base64.StdEncoding.EncodeToString(tunnelSecret) + `"}`),
		"no secret":            b64(`{"a":"x","t":"` + testTunnel + `"}`),
		"secret not base64":    b64(`{"a":"x","t":"` + testTunnel + `","s":"SENTINEL!!"}`),
		"secret of wrong type": b64(`{"a":"x","t":"` + testTunnel + `","s":42}`),
	}
	for name, tok := range malformed {
		t.Run(name, func(t *testing.T) {
			id, secret, err := cloudflare.NewConnectorToken(tok).Parse()
			if err == nil || id != "" || secret != nil {
				t.Fatalf("Parse = %q, %q, %v; want an error", id, secret, err)
			}
			if (tok != "" && strings.Contains(err.Error(), tok)) || strings.Contains(err.Error(), "SENTINEL") {
				t.Errorf("error %q quotes the token", err)
			}
		})
	}
}

func TestConnectorTokenBasics(t *testing.T) {
	raw := connectorTokenFor(tunnelSecret)
	tok := cloudflare.NewConnectorToken(raw)
	if tok.Reveal() != raw || tok.IsZero() || !tok.Equal(cloudflare.NewConnectorToken(raw)) || tok.Equal(cloudflare.NewConnectorToken(raw+"x")) {
		t.Error("Reveal, IsZero or Equal is wrong for a set token")
	}
	var zero cloudflare.ConnectorToken
	if !zero.IsZero() || !cloudflare.NewConnectorToken("").IsZero() || zero.Reveal() != "" || !zero.Equal(cloudflare.ConnectorToken{}) {
		t.Error("the zero token must be zero, empty and equal to another zero token")
	}
}

// tokenHolders are the ways a token ends up inside something that gets printed or marshalled.
type (
	exportedHolder struct {
		Name  string
		Token cloudflare.ConnectorToken
	}
	unexportedHolder struct {
		name  string
		token cloudflare.ConnectorToken
	}
	pointerHolder struct {
		Token *cloudflare.ConnectorToken
	}
)

func TestConnectorTokenNeverPrinted(t *testing.T) {
	raw := connectorTokenFor(tunnelSecret)
	tok := cloudflare.NewConnectorToken(raw)
	values := map[string]any{
		"token":             tok,
		"pointer":           &tok,
		"exported field":    exportedHolder{Name: "a", Token: tok},
		"unexported field":  unexportedHolder{name: "a", token: tok},
		"pointer field":     pointerHolder{Token: &tok},
		"pointer to holder": &unexportedHolder{token: tok},
		"slice":             []cloudflare.ConnectorToken{tok},
		"map value":         map[string]cloudflare.ConnectorToken{"a": tok},
		"map key":           map[cloudflare.ConnectorToken]int{tok: 1},
		"error":             fmt.Errorf("failed with %v", tok),
	}
	for name, v := range values {
		t.Run(name, func(t *testing.T) {
			var texts []string
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
				texts = append(texts, fmt.Sprintf(verb, v))
			}
			if data, err := json.Marshal(v); err == nil {
				texts = append(texts, string(data))
			}
			var logged bytes.Buffer
			slog.New(slog.NewJSONHandler(&logged, nil)).Info("m", "v", v)
			slog.New(slog.NewTextHandler(&logged, nil)).Info("m", "v", v)
			texts = append(texts, logged.String())
			assertNoToken(t, raw, texts...)
		})
	}
	for _, encoded := range []func() ([]byte, error){tok.MarshalJSON, tok.MarshalText, func() ([]byte, error) { return json.Marshal(tok) }} {
		data, err := encoded()
		if err != nil || !strings.Contains(string(data), "connector-token(redacted)") {
			t.Errorf("encoded as %s, %v; want the redacted text", data, err)
		}
	}
	if got := fmt.Sprint(tok); got != "connector-token(redacted)" {
		t.Errorf("Sprint = %q", got)
	}
}

// assertNoToken fails if any text holds the raw token, its secret, or the secret's base64.
func assertNoToken(t *testing.T, raw string, texts ...string) {
	t.Helper()
	for _, text := range texts {
		for _, secret := range []string{raw, string(tunnelSecret), base64.StdEncoding.EncodeToString(tunnelSecret)} {
			if strings.Contains(text, secret) {
				t.Errorf("text reveals the token: %q", text)
			}
		}
	}
}

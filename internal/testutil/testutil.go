// Package testutil holds the small helpers every test tier needs (unique names, free ports,
// settings from the environment), so the controller suite, the end-to-end suite, the bench and
// the fake API share one copy of each.
package testutil

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
)

// RandomHex returns n random bytes as 2n hex characters: fresh namespaces, account ids and
// tokens, so no test sees another's objects or calls.
func RandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// FreeAddr returns a 127.0.0.1 address with a TCP port that was free a moment ago.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String(), nil
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	addr, err := FreeAddr()
	if err != nil {
		return 0, err
	}
	tcp, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return 0, err
	}
	return tcp.Port, nil
}

// EnvOr returns the environment variable key, or fallback when it is unset or empty.
func EnvOr(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}

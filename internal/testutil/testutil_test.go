package testutil

import (
	"net"
	"strconv"
	"testing"
)

func TestRandomHexIsFreshAndSized(t *testing.T) {
	a, b := RandomHex(8), RandomHex(8)
	if len(a) != 16 || a == b {
		t.Fatalf("RandomHex(8) gave %q and %q: want two different 16-character strings", a, b)
	}
}

func TestFreePortCanBeListenedOn(t *testing.T) {
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatalf("port %d is not free: %v", port, err)
	}
	_ = l.Close()
}

func TestEnvOr(t *testing.T) {
	t.Setenv("TESTUTIL_SET", "value")
	t.Setenv("TESTUTIL_EMPTY", "")
	if got := EnvOr("TESTUTIL_SET", "fallback"); got != "value" {
		t.Errorf("set: got %q", got)
	}
	if got := EnvOr("TESTUTIL_EMPTY", "fallback"); got != "fallback" {
		t.Errorf("empty: got %q", got)
	}
}

package ownership

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"time"
)

// maxTunnelSecrets bounds how many attempts' secrets a tunnel intent remembers.
const maxTunnelSecrets = 8

// TunnelIntent is recorded on a CloudflareTunnel, with the name's reservation held, before every
// create call. Unlike a service, a tunnel can be proven to be an attempt's own beyond doubt: each
// attempt sends a tunnel secret of 32 random bytes that the operator chose, and the tunnel's
// connector token carries that secret back. The intent keeps only the secrets' hashes, so the
// annotation reveals nothing a connector could run with.
type TunnelIntent struct {
	// Name is the tunnel name the attempts used.
	Name string `json:"name"`
	// At is when the first attempt was made (for people reading the annotation; proof needs no clock).
	At time.Time `json:"at"`
	// Attempt counts the create calls. Each attempt writes the intent anew with optimistic
	// locking, so only one of two writers goes on to the create call.
	Attempt int `json:"attempt,omitempty"`
	// SecretHashes are the SHA-256 hashes of the tunnel secrets the attempts sent.
	SecretHashes []string `json:"secretHashes,omitempty"`
}

// ParseTunnelIntent reads a tunnel intent annotation; an unreadable one proves nothing.
func ParseTunnelIntent(raw string) TunnelIntent {
	var in TunnelIntent
	if err := json.Unmarshal([]byte(raw), &in); err != nil || in.Name == "" {
		return TunnelIntent{}
	}
	return in
}

// Encode is the annotation value.
func (in TunnelIntent) Encode() (string, error) {
	b, err := json.Marshal(in)
	return string(b), err
}

// AddSecret records the hash of the secret the next attempt sends.
func (in *TunnelIntent) AddSecret(secret []byte) {
	in.SecretHashes = append(in.SecretHashes, SecretHash(secret))
	if len(in.SecretHashes) > maxTunnelSecrets {
		in.SecretHashes = in.SecretHashes[len(in.SecretHashes)-maxTunnelSecrets:]
	}
	in.Attempt++
}

// Proven tells whether a tunnel whose connector token carries secret was made by one of this
// intent's attempts. Nobody else can know the secret, so this is proof, not inference.
func (in TunnelIntent) Proven(secret []byte) bool {
	return len(secret) > 0 && slices.Contains(in.SecretHashes, SecretHash(secret))
}

// SecretHash is the hex SHA-256 of a tunnel secret; the secret cannot be recovered from it.
func SecretHash(secret []byte) string {
	sum := sha256.Sum256(secret)
	return hex.EncodeToString(sum[:])
}

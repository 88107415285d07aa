package ownership

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/workersvpc/connectivity-operator/internal/cloudflare"
	"github.com/workersvpc/connectivity-operator/internal/servicespec"
)

// IntentSkew is how much earlier than the recorded intent a service's created_at may be and still
// count as the intent's: it absorbs a difference between the cluster's clock and Cloudflare's.
// The time is only one part of the proof (see Proven), so it can be generous.
const IntentSkew = 10 * time.Minute

// Intent is recorded on the object, with the reservation held, before every create call. The API
// has no idempotency key, so when a create's outcome is unknown (timeout, 5xx, a crash right
// after the call) the intent is the evidence that a service of that name is this object's own.
type Intent struct {
	// Name is the name the create used.
	Name string `json:"name"`
	// At is when the first attempt of this intent was made.
	At time.Time `json:"at"`
	// Retry is set once an attempt's outcome was unknown: from then on a service of this name
	// may be this intent's own late commit, and the intent is kept until that is known.
	Retry bool `json:"retry,omitempty"`
	// Attempt counts the create calls of this intent. Each attempt writes the intent anew, so the
	// optimistic lock on that write lets only one of two writers go on to the create call.
	Attempt int `json:"attempt,omitempty"`
	// Bodies are what the attempts of this intent sent (more than one when the spec changed
	// between retries), so a late commit can be recognised by its body.
	Bodies []cloudflare.Service `json:"bodies,omitempty"`
}

// ParseIntent reads an intent annotation. An unreadable one is still an intent (a create may
// have happened), but one that can prove nothing.
func ParseIntent(raw string) Intent {
	var in Intent
	if err := json.Unmarshal([]byte(raw), &in); err != nil || in.Name == "" {
		return Intent{}
	}
	return in
}

// Encode is the annotation value.
func (in Intent) Encode() (string, error) {
	b, err := json.Marshal(in)
	return string(b), err
}

// Proven tells whether svc is the service this intent's create made. All of it must hold: the
// intent is readable and names svc's name, svc was created no earlier than the intent (less the
// skew), and svc configures exactly what the intent sent. The caller must also hold the name's
// reservation. A service someone else made, or edited since, fails at least one of these.
func (in Intent) Proven(svc cloudflare.Service) bool {
	return in.Name != "" && svc.Name == in.Name &&
		!svc.CreatedAt.IsZero() && !svc.CreatedAt.Before(in.At.Add(-IntentSkew)) &&
		slices.ContainsFunc(in.Bodies, func(sent cloudflare.Service) bool { return servicespec.Equal(sent, svc) })
}

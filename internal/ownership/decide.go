package ownership

import "github.com/workersvpc/connectivity-operator/internal/cloudflare"

// Resolution is what to do with a service of the intent's name, found after a create attempt.
type Resolution int

const (
	// Retry: no service has the name; create again under the same intent.
	Retry Resolution = iota
	// Claim: the service is proven to be the intent's own late commit.
	Claim
	// Adopt: the service is not proven, but the object asks to adopt a service of its name.
	Adopt
	// Conflict: the service predates the attempt and is someone else's.
	Conflict
	// Unknown: the service may be the intent's own, but nothing proves it; stop and ask a person.
	Unknown
)

// Resolve decides about found, the service of in.Name (nil when there is none). uncertain says an
// attempt of this intent may have committed (an unknown outcome, or a crash): only then can a
// service of the name be the object's own. Without proof the object never claims it, and when
// it may be its own, never calls it someone else's either.
func Resolve(in Intent, found *cloudflare.Service, uncertain, adopt bool) Resolution {
	switch {
	case found == nil:
		return Retry
	case uncertain && in.Proven(*found):
		return Claim
	case adopt:
		return Adopt
	case uncertain:
		return Unknown
	default:
		return Conflict
	}
}

// ToDelete is the id an object's deletion deletes: the recorded id, or the service its pending
// intent is proven to have made (found: the service of the intent's name, nil when none). An
// intent alone, without proof, never leads to a delete. It returns "" when there is nothing to
// delete.
func ToDelete(recordedID string, in *Intent, found *cloudflare.Service) string {
	switch {
	case recordedID != "":
		return recordedID
	case in != nil && found != nil && in.Proven(*found):
		return found.ID
	default:
		return ""
	}
}

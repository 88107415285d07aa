package v1alpha1

// Condition types, with kstatus meaning so that Flux, Argo CD and kubectl wait read health right.
const (
	// ConditionReady is True when the remote state matches the spec of status.observedGeneration.
	ConditionReady = "Ready"
	// ConditionReconciling is True while the operator is working towards the spec.
	ConditionReconciling = "Reconciling"
	// ConditionStalled is True when the operator cannot go on without a change from a person.
	ConditionStalled = "Stalled"
)

// Condition reasons. Each names a situation a user can look up in the README's troubleshooting table.
const (
	// ReasonCreated: the operator created the Cloudflare service.
	ReasonCreated = "Created"
	// ReasonSynced: the Cloudflare service matches the spec.
	ReasonSynced = "Synced"
	// ReasonAdopted: the object took over an existing Cloudflare service, as its annotations asked.
	ReasonAdopted = "Adopted"
	// ReasonNameConflict: another service of that name exists in the account and is not this object's.
	ReasonNameConflict = "NameConflict"
	// ReasonOwnershipUnknown: a service of the name exists and an earlier create of this object
	// may have made it, but nothing proves it did; the object neither claims nor touches it.
	ReasonOwnershipUnknown = "OwnershipUnknown"
	// ReasonTunnelNotFound: the tunnel id in the spec is unknown to the account.
	ReasonTunnelNotFound = "TunnelNotFound"
	// ReasonInvalidSpec: Cloudflare rejected the spec as invalid.
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonCredentialsNotFound: the account's Secret, or a key in it, is missing.
	ReasonCredentialsNotFound = "CredentialsNotFound"
	// ReasonCredentialsInvalid: Cloudflare rejected the credentials.
	ReasonCredentialsInvalid = "CredentialsInvalid"
	// ReasonPermissionDenied: the credentials work but lack the Workers VPC (Connectivity Directory) permission.
	ReasonPermissionDenied = "PermissionDenied"
	// ReasonAccountNotReady: the referenced account object is missing or not Ready.
	ReasonAccountNotReady = "AccountNotReady"
	// ReasonRateLimited: the credential's API budget is spent; work resumes when it refills.
	ReasonRateLimited = "RateLimited"
	// ReasonAPIError: Cloudflare failed in a way that is retried with backoff.
	ReasonAPIError = "APIError"
	// ReasonDeleting: the operator is deleting the Cloudflare service.
	ReasonDeleting = "Deleting"
	// ReasonProgressing: the operator is working on the current generation.
	ReasonProgressing = "Progressing"
	// ReasonSecretNotFound: an account's Secret is missing.
	ReasonSecretNotFound = "SecretNotFound"
	// ReasonVerified: an account's credentials were verified with Cloudflare.
	ReasonVerified = "Verified"
	// ReasonTunnelNotReady: the CloudflareTunnel a service refers to is missing or has no tunnel id yet.
	ReasonTunnelNotReady = "TunnelNotReady"
	// ReasonConnectorUnavailable: the tunnel exists but its cloudflared Deployment has no available pod.
	ReasonConnectorUnavailable = "ConnectorUnavailable"
	// ReasonTunnelDegraded: the connector runs but Cloudflare does not report the tunnel healthy.
	ReasonTunnelDegraded = "TunnelDegraded"
	// ReasonServiceNotFound: the Service serviceRef names does not exist (or has no address).
	ReasonServiceNotFound = "ServiceNotFound"
	// ReasonPortNotFound: the Service serviceRef names has no such port.
	ReasonPortNotFound = "PortNotFound"
	// ReasonSuspended: spec.suspend is true; the operator makes no Cloudflare call.
	ReasonSuspended = "Suspended"
	// ReasonObserved: with managementPolicy Observe, the service was read and mirrored into status.
	ReasonObserved = "Observed"
	// ReasonNotFound: with managementPolicy Observe, no service of the id or name exists.
	ReasonNotFound = "NotFound"
	// ReasonConnected: the tunnel is healthy and its connector available.
	ReasonConnected = "Connected"
	// ReasonTunnelInUse: the tunnel is being deleted and waits for the services that use it.
	ReasonTunnelInUse = "TunnelInUse"
)

// Annotations users and the operator put on a ConnectivityService.
const (
	// AnnotationAdopt, set to "true", lets the object take over an existing service of its name.
	AnnotationAdopt = "connectivity.workersvpc.dev/adopt"
	// AnnotationServiceID is the durable record of the object's service id, in metadata so that a
	// lost status loses nothing (as Crossplane's external-name). The operator writes it when the
	// object claims a service; a user sets it to import an existing service by id.
	AnnotationServiceID = "connectivity.workersvpc.dev/service-id"
	// AnnotationReconcileRequestedAt, set to any new value (such as the time), asks for a
	// reconcile now that does not wait for the account's shared list to age: Flux's convention,
	// so `flux reconcile`-style tooling and `kubectl annotate --overwrite` scripts work.
	AnnotationReconcileRequestedAt = "reconcile.fluxcd.io/requestedAt"
	// AnnotationCreateIntent records, before a create call, that a create is in flight; its value
	// identifies the attempt. It makes an unknown create outcome recoverable without duplicates.
	AnnotationCreateIntent = "connectivity.workersvpc.dev/create-intent"
)

// Annotations the operator puts on a CloudflareTunnel.
const (
	// AnnotationTunnelID is the durable record of the tunnel id a CloudflareTunnel created or
	// claimed, in metadata so that a lost status loses nothing.
	AnnotationTunnelID = "connectivity.workersvpc.dev/tunnel-id"
)

// Finalizer keeps the object until its Cloudflare service (or tunnel) is deleted or orphaned. A
// CloudflareTunnel holds it also while ConnectivityServices still route through the tunnel, so
// the tunnel goes after them, never before.
const Finalizer = "connectivity.workersvpc.dev/finalizer"

// AccountInUseFinalizer keeps an account object until no ConnectivityService uses it, so that
// deleting an account together with its services (kubectl delete -k, a GitOps prune) never
// leaves the services unable to delete their Cloudflare services.
const AccountInUseFinalizer = "connectivity.workersvpc.dev/in-use"

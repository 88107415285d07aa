package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// ServiceType is the protocol a connectivity service speaks; it decides which port fields apply.
// +kubebuilder:validation:Enum=http;tcp
type ServiceType string

const (
	// ServiceTypeHTTP routes HTTP and HTTPS requests to the origin.
	ServiceTypeHTTP ServiceType = "http"
	// ServiceTypeTCP routes raw TCP connections, such as a database protocol, to the origin.
	ServiceTypeTCP ServiceType = "tcp"
)

// AppProtocol tells Cloudflare which application protocol a TCP service carries.
// +kubebuilder:validation:Enum=postgresql;mysql
type AppProtocol string

// CertVerificationMode says how strictly the origin's TLS certificate is checked.
// +kubebuilder:validation:Enum=verify_full;verify_ca;disabled
type CertVerificationMode string

const (
	// CertVerifyFull checks the certificate chain and the hostname; Cloudflare's default.
	CertVerifyFull CertVerificationMode = "verify_full"
	// CertVerifyCA checks the certificate chain only.
	CertVerifyCA CertVerificationMode = "verify_ca"
	// CertVerifyDisabled does not check the certificate at all.
	CertVerifyDisabled CertVerificationMode = "disabled"
)

// DeletionPolicy decides what happens to the Cloudflare service when the object is deleted.
// +kubebuilder:validation:Enum=Delete;Orphan
type DeletionPolicy string

const (
	// DeletionPolicyDelete deletes the Cloudflare service together with the object.
	DeletionPolicyDelete DeletionPolicy = "Delete"
	// DeletionPolicyOrphan leaves the Cloudflare service in place when the object is deleted.
	DeletionPolicyOrphan DeletionPolicy = "Orphan"
)

// AccountKind names the kind of account object a service refers to.
// +kubebuilder:validation:Enum=CloudflareAccount;ClusterCloudflareAccount
type AccountKind string

const (
	// AccountKindNamespaced refers to a CloudflareAccount in the service's own namespace.
	AccountKindNamespaced AccountKind = "CloudflareAccount"
	// AccountKindCluster refers to a cluster-scoped ClusterCloudflareAccount.
	AccountKindCluster AccountKind = "ClusterCloudflareAccount"
)

// DefaultClusterAccountName is the ClusterCloudflareAccount used when spec.accountRef is empty.
const DefaultClusterAccountName = "default"

// ConnectivityServiceSpec is the desired Cloudflare Workers VPC connectivity service.
// +kubebuilder:validation:XValidation:rule="self.type == 'http' || (!has(self.httpPort) && !has(self.httpsPort))",message="httpPort and httpsPort apply only to type http; use tcpPort for type tcp"
// +kubebuilder:validation:XValidation:rule="self.type == 'tcp' || (!has(self.tcpPort) && !has(self.appProtocol))",message="tcpPort and appProtocol apply only to type tcp; use httpPort or httpsPort for type http"
// +kubebuilder:validation:XValidation:rule="has(self.accountRef) == has(oldSelf.accountRef) && (!has(self.accountRef) || self.accountRef == oldSelf.accountRef)",message="accountRef is immutable: a service cannot move between accounts; delete the object and create a new one instead"
type ConnectivityServiceSpec struct {
	// name of the service in Cloudflare, unique within the account. Workers see this name.
	// Defaults to metadata.name. Changing it renames the service in place.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.trim() == self",message="name must not start or end with white space"
	Name string `json:"name,omitempty"`

	// type of traffic the service carries: http or tcp.
	// +required
	Type ServiceType `json:"type"`

	// host is the private origin, reached through a Cloudflare Tunnel: an IPv4 address, an IPv6
	// address, both (dual stack), or a hostname resolved by cloudflared.
	// +required
	Host ServiceHost `json:"host"`

	// httpPort is the origin's HTTP port (type http only). When neither httpPort nor httpsPort is
	// set, Cloudflare uses 80 and 443; setting only one restricts the service to that scheme.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	HTTPPort *int32 `json:"httpPort,omitempty"`

	// httpsPort is the origin's HTTPS port (type http only); see httpPort.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	HTTPSPort *int32 `json:"httpsPort,omitempty"`

	// tcpPort is the origin's TCP port (type tcp only).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	TCPPort *int32 `json:"tcpPort,omitempty"`

	// appProtocol is the application protocol of a tcp service: postgresql or mysql (type tcp only).
	// +optional
	AppProtocol AppProtocol `json:"appProtocol,omitempty"`

	// tlsSettings controls verification of the origin's certificate. Omitted means verify_full.
	// +optional
	TLSSettings *TLSSettings `json:"tlsSettings,omitempty"`

	// accountRef names the account object that holds the Cloudflare account id and credentials.
	// Omitted means the ClusterCloudflareAccount named "default". Immutable.
	// +optional
	AccountRef *AccountReference `json:"accountRef,omitempty"`

	// deletionPolicy says whether deleting this object deletes the Cloudflare service (Delete,
	// the default) or leaves it in place (Orphan).
	// +optional
	// +kubebuilder:default=Delete
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`
}

// ServiceHost is the origin of a service: exactly one of ipv4, ipv6, ipv4+ipv6 or hostname.
// +kubebuilder:validation:XValidation:rule="has(self.ipv4) || has(self.ipv6) || has(self.hostname)",message="host needs an address: set ipv4, ipv6, both, or hostname"
// +kubebuilder:validation:XValidation:rule="!has(self.hostname) || (!has(self.ipv4) && !has(self.ipv6))",message="host takes either IP addresses or a hostname, not both"
// +kubebuilder:validation:XValidation:rule="!(has(self.ipv4) || has(self.ipv6)) || has(self.network)",message="an IP host (ipv4, ipv6) needs network.tunnelID or network.tunnelRef"
// +kubebuilder:validation:XValidation:rule="!has(self.hostname) || has(self.resolverNetwork)",message="a hostname host needs resolverNetwork.tunnelID or resolverNetwork.tunnelRef"
// +kubebuilder:validation:XValidation:rule="!has(self.network) || has(self.ipv4) || has(self.ipv6)",message="network is only for IP hosts (ipv4, ipv6); a hostname host uses resolverNetwork"
// +kubebuilder:validation:XValidation:rule="!has(self.resolverNetwork) || has(self.hostname)",message="resolverNetwork is only for hostname hosts; an IP host uses network"
type ServiceHost struct {
	// ipv4 is the origin's IPv4 address, such as 10.0.0.5.
	// +optional
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:XValidation:rule="isIP(self) && ip(self).family() == 4",message="ipv4 must be an IPv4 address such as 10.0.0.5"
	IPv4 string `json:"ipv4,omitempty"`

	// ipv6 is the origin's IPv6 address, such as fd00::5.
	// +optional
	// +kubebuilder:validation:MaxLength=45
	// +kubebuilder:validation:XValidation:rule="isIP(self) && ip(self).family() == 6",message="ipv6 must be an IPv6 address such as fd00::5"
	IPv6 string `json:"ipv6,omitempty"`

	// hostname is the origin's fully qualified DNS name, resolved by cloudflared. DNS search
	// domains never apply, so use db.apps.svc.cluster.local rather than db.apps.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^([A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?\\\\.)+[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?\\\\.?$')",message="hostname must be a fully qualified DNS name with at least two labels, such as db.apps.svc.cluster.local (cloudflared applies no search domains)"
	Hostname string `json:"hostname,omitempty"`

	// network is the tunnel that reaches an IP origin.
	// +optional
	Network *Network `json:"network,omitempty"`

	// resolverNetwork is the tunnel that resolves and reaches a hostname origin.
	// +optional
	ResolverNetwork *ResolverNetwork `json:"resolverNetwork,omitempty"`
}

// Network is the Cloudflare Tunnel that carries traffic to an IP origin.
// +kubebuilder:validation:XValidation:rule="has(self.tunnelID) != has(self.tunnelRef)",message="network takes exactly one of tunnelID (a tunnel's UUID) or tunnelRef (a CloudflareTunnel in this namespace)"
type Network struct {
	// tunnelID is the UUID of the Cloudflare Tunnel, as shown by `cloudflared tunnel list`.
	// +optional
	// +kubebuilder:validation:MaxLength=36
	// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$')",message="tunnelID must be a tunnel UUID such as 0191dce4-9ab4-7fce-b660-8e5dec5172da"
	TunnelID string `json:"tunnelID,omitempty"`

	// tunnelRef names a CloudflareTunnel in this namespace, whose tunnel id is used.
	// +optional
	TunnelRef *TunnelReference `json:"tunnelRef,omitempty"`
}

// TunnelReference names a CloudflareTunnel in the service's own namespace.
type TunnelReference struct {
	// name of the CloudflareTunnel.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="!format.dns1123Subdomain().validate(self).hasValue()",message="tunnelRef.name must be a Kubernetes object name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
	Name string `json:"name"`
}

// ResolverNetwork is the Cloudflare Tunnel whose cloudflared resolves and reaches a hostname.
// +kubebuilder:validation:XValidation:rule="has(self.tunnelID) != has(self.tunnelRef)",message="resolverNetwork takes exactly one of tunnelID (a tunnel's UUID) or tunnelRef (a CloudflareTunnel in this namespace)"
type ResolverNetwork struct {
	// tunnelID is the UUID of the Cloudflare Tunnel, as shown by `cloudflared tunnel list`.
	// +optional
	// +kubebuilder:validation:MaxLength=36
	// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$')",message="tunnelID must be a tunnel UUID such as 0191dce4-9ab4-7fce-b660-8e5dec5172da"
	TunnelID string `json:"tunnelID,omitempty"`

	// tunnelRef names a CloudflareTunnel in this namespace, whose tunnel id is used.
	// +optional
	TunnelRef *TunnelReference `json:"tunnelRef,omitempty"`

	// resolverIPs are DNS servers cloudflared asks instead of its host's resolver.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MaxLength=45
	// +kubebuilder:validation:items:XValidation:rule="isIP(self)",message="resolverIPs must be IP addresses such as 10.96.0.10"
	ResolverIPs []string `json:"resolverIPs,omitempty"`
}

// TLSSettings controls how the connection to the origin is secured.
type TLSSettings struct {
	// certVerificationMode is verify_full (chain and hostname), verify_ca (chain only) or disabled.
	// +required
	CertVerificationMode CertVerificationMode `json:"certVerificationMode"`
}

// AccountReference points a service at a CloudflareAccount or ClusterCloudflareAccount.
type AccountReference struct {
	// kind is CloudflareAccount (same namespace as the service) or ClusterCloudflareAccount.
	// +optional
	// +kubebuilder:default=ClusterCloudflareAccount
	Kind AccountKind `json:"kind,omitempty"`

	// name of the account object.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="!format.dns1123Subdomain().validate(self).hasValue()",message="accountRef.name must be a Kubernetes object name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
	Name string `json:"name"`
}

// ConnectivityServiceStatus is what the operator last observed and did.
type ConnectivityServiceStatus struct {
	// serviceID is the Cloudflare service id that Workers bind to.
	// +optional
	ServiceID string `json:"serviceID,omitempty"`

	// accountID is the Cloudflare account the service lives in.
	// +optional
	AccountID string `json:"accountID,omitempty"`

	// createdAt is when Cloudflare created the service (kept from the create reply, since an
	// update resets Cloudflare's own created_at).
	// +optional
	CreatedAt *metav1.Time `json:"createdAt,omitempty"`

	// updatedAt is when the service was last written in Cloudflare.
	// +optional
	UpdatedAt *metav1.Time `json:"updatedAt,omitempty"`

	// observedGeneration is the generation the Ready condition describes; -1 before the first.
	// +optional
	// +kubebuilder:default=-1
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, Reconciling and Stalled, with kstatus meaning.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=cfsvc;vpcsvc,categories=cloudflare
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Host",type=string,JSONPath=`.spec.host['hostname','ipv4','ipv6']`
// +kubebuilder:printcolumn:name="Service ID",type=string,JSONPath=`.status.serviceID`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Message",type=string,priority=1,JSONPath=`.status.conditions[?(@.type=="Ready")].message`

// ConnectivityService is a Cloudflare Workers VPC connectivity service: a named entry in a
// Cloudflare account that points Workers at a private origin through a Cloudflare Tunnel.
type ConnectivityService struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec is the desired service.
	// +required
	Spec ConnectivityServiceSpec `json:"spec"`

	// status is what the operator observed. It defaults to {observedGeneration: -1}, so a new
	// object reads as in progress (kstatus) before the operator has looked at it.
	// +optional
	// +kubebuilder:default={}
	Status ConnectivityServiceStatus `json:"status,omitzero"`
}

// SetObservedGeneration records the generation the conditions describe, for shared helpers.
func (s *ConnectivityService) SetObservedGeneration(g int64) { s.Status.ObservedGeneration = g }

// GetConditions returns the conditions, for condition helpers shared by every kind.
func (s *ConnectivityService) GetConditions() []metav1.Condition { return s.Status.Conditions }

// SetConditions replaces the conditions, for condition helpers shared by every kind.
func (s *ConnectivityService) SetConditions(c []metav1.Condition) { s.Status.Conditions = c }

// +kubebuilder:object:root=true

// ConnectivityServiceList contains a list of ConnectivityService.
type ConnectivityServiceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitzero"`
	Items           []ConnectivityService `json:"items"`
}

func init() {
	SchemeBuilder.Register(func(s *runtime.Scheme) error {
		s.AddKnownTypes(SchemeGroupVersion, &ConnectivityService{}, &ConnectivityServiceList{})
		return nil
	})
}

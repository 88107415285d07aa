package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
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
	Type ServiceType `json:"type,omitempty"`

	// host is the private origin, reached through a Cloudflare Tunnel: an IPv4 address, an IPv6
	// address, both (dual stack), or a hostname resolved by cloudflared.
	// +required
	Host ServiceHost `json:"host,omitzero"`

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

	// managementPolicy is Manage (the default: create, update and delete the service) or Observe
	// (mirror an existing service, found by the service-id annotation or by name, into status and
	// never write to Cloudflare; deleting the object makes no call). Switching to Manage takes the
	// service over with the usual ownership rules.
	// +optional
	// +kubebuilder:default=Manage
	ManagementPolicy ManagementPolicy `json:"managementPolicy,omitempty"`

	// suspend stops every Cloudflare call for this object while it is true (as Flux's suspend);
	// setting it back to false reconciles at once.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// export writes the service's binding for Workers into a ConfigMap in this namespace.
	// +optional
	Export *Export `json:"export,omitempty"`
}

// ManagementPolicy says whether the operator writes the Cloudflare service or only observes it.
// +kubebuilder:validation:Enum=Manage;Observe
type ManagementPolicy string

const (
	// ManagementPolicyManage creates, updates and deletes the service.
	ManagementPolicyManage ManagementPolicy = "Manage"
	// ManagementPolicyObserve only reads the service and mirrors it into status.
	ManagementPolicyObserve ManagementPolicy = "Observe"
)

// Export is the ConfigMap that hands a service's binding to a Worker's deployment.
type Export struct {
	// binding is the name the Worker reads the service by (env.<binding>), such as API.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z_$][A-Za-z0-9_$]*$')",message="binding must be a JavaScript identifier such as API or ORDERS_DB: letters, digits, '_' and '$', not starting with a digit"
	Binding string `json:"binding,omitempty"`

	// configMapName is the ConfigMap's name; defaults to <object name>-vpc-binding.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="!format.dns1123Subdomain().validate(self).hasValue()",message="configMapName must be a Kubernetes object name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
	ConfigMapName string `json:"configMapName,omitempty"`
}

// ServiceHost is the origin of a service: exactly one of ipv4, ipv6, ipv4+ipv6, hostname or a
// Kubernetes Service (serviceRef).
// +kubebuilder:validation:XValidation:rule="has(self.ipv4) || has(self.ipv6) || has(self.hostname) || has(self.serviceRef)",message="host needs an address: set ipv4, ipv6, both, hostname, or serviceRef"
// +kubebuilder:validation:XValidation:rule="!has(self.serviceRef) || !(has(self.ipv4) || has(self.ipv6) || has(self.hostname))",message="serviceRef takes the place of ipv4, ipv6 and hostname: set one or the other"
// +kubebuilder:validation:XValidation:rule="!has(self.hostname) || (!has(self.ipv4) && !has(self.ipv6))",message="host takes either IP addresses or a hostname, not both"
// +kubebuilder:validation:XValidation:rule="!(has(self.ipv4) || has(self.ipv6)) || has(self.network)",message="an IP host (ipv4, ipv6) needs network.tunnelID or network.tunnelRef"
// +kubebuilder:validation:XValidation:rule="!has(self.hostname) || has(self.resolverNetwork)",message="a hostname host needs resolverNetwork.tunnelID or resolverNetwork.tunnelRef"
// +kubebuilder:validation:XValidation:rule="!has(self.network) || has(self.ipv4) || has(self.ipv6) || has(self.serviceRef)",message="network is only for IP hosts (ipv4, ipv6, or serviceRef with address: ClusterIP); a hostname host uses resolverNetwork"
// +kubebuilder:validation:XValidation:rule="!has(self.resolverNetwork) || has(self.hostname) || has(self.serviceRef)",message="resolverNetwork is only for hostname hosts (hostname, or serviceRef with address: Hostname); an IP host uses network"
// +kubebuilder:validation:XValidation:rule="!has(self.serviceRef) || (has(self.serviceRef.address) && self.serviceRef.address == 'ClusterIP') || (has(self.resolverNetwork) && !has(self.network))",message="with serviceRef address: Hostname (the default), put the tunnel in resolverNetwork, not network"
// +kubebuilder:validation:XValidation:rule="!has(self.serviceRef) || !has(self.serviceRef.address) || self.serviceRef.address != 'ClusterIP' || (has(self.network) && !has(self.resolverNetwork))",message="with serviceRef address: ClusterIP, put the tunnel in network, not resolverNetwork"
// +kubebuilder:validation:MinProperties=1
type ServiceHost struct {
	// serviceRef is a Kubernetes Service in this namespace whose address and port the operator
	// sends, and follows when they change.
	// +optional
	ServiceRef *ServiceReference `json:"serviceRef,omitempty"`

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
	Name string `json:"name,omitempty"`
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

// ServiceAddress says how a serviceRef'd Service is addressed.
// +kubebuilder:validation:Enum=Hostname;ClusterIP
type ServiceAddress string

const (
	// ServiceAddressHostname sends <name>.<namespace>.svc.<cluster domain>, resolved by cloudflared
	// with the cluster's DNS.
	ServiceAddressHostname ServiceAddress = "Hostname"
	// ServiceAddressClusterIP sends the Service's cluster IPs (IPv4, IPv6 or both).
	ServiceAddressClusterIP ServiceAddress = "ClusterIP"
)

// ServiceReference names a Service in the ConnectivityService's namespace and one of its ports.
type ServiceReference struct {
	// name of the Service.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="!format.dns1035Label().validate(self).hasValue()",message="serviceRef.name must be a Service name: lowercase letters, digits and '-', starting with a letter and ending with a letter or digit"
	Name string `json:"name,omitempty"`

	// port of the Service, by number (its port, not targetPort) or by name. For type tcp it
	// becomes tcpPort; for http, a port named https, numbered 443 or with appProtocol https
	// becomes httpsPort, any other httpPort. Ports set in the spec win.
	// +required
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? (self >= 1 && self <= 65535) : (size(self) <= 15 && self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$') && self.matches('[a-z]'))",message="port must be a number from 1 to 65535, or the name of one of the Service's ports"
	Port intstr.IntOrString `json:"port"`

	// address is Hostname (the default: the Service's cluster DNS name, resolved by cloudflared;
	// needs resolverNetwork) or ClusterIP (its cluster IPs; needs network). Headless Services have
	// no cluster IP; ExternalName Services give their external name either way.
	// +optional
	// +kubebuilder:default=Hostname
	Address ServiceAddress `json:"address,omitempty"`
}

// TLSSettings controls how the connection to the origin is secured.
type TLSSettings struct {
	// certVerificationMode is verify_full (chain and hostname), verify_ca (chain only) or disabled.
	// +required
	CertVerificationMode CertVerificationMode `json:"certVerificationMode,omitempty"`
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
	Name string `json:"name,omitempty"`
}

// ConnectivityServiceStatus is what the operator last observed and did.
type ConnectivityServiceStatus struct {
	// conditions are Ready, Reconciling and Stalled, with kstatus meaning.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=32
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// serviceID is the Cloudflare service id (a UUID) that Workers bind to.
	// +optional
	// +kubebuilder:validation:MaxLength=36
	ServiceID string `json:"serviceID,omitempty"`

	// accountID is the Cloudflare account the service lives in.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	AccountID string `json:"accountID,omitempty"`

	// createdAt is when Cloudflare created the service (kept from the create reply, since an
	// update resets Cloudflare's own created_at).
	// +optional
	CreatedAt *metav1.Time `json:"createdAt,omitempty"`

	// updatedAt is when the service was last written in Cloudflare.
	// +optional
	UpdatedAt *metav1.Time `json:"updatedAt,omitempty"`

	// host is the origin last sent to (or, with Observe, seen in) Cloudflare: serviceRef and
	// tunnelRef resolved.
	// +optional
	Host *SentHost `json:"host,omitempty"`

	// lastHandledReconcileAt is the value of the reconcile.fluxcd.io/requestedAt annotation the
	// operator last acted on, so scripts can tell their request was handled.
	// +optional
	LastHandledReconcileAt string `json:"lastHandledReconcileAt,omitempty"`

	// observedGeneration is the generation the Ready condition describes; -1 before the first.
	// +optional
	// +kubebuilder:default=-1
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// SentHost is an origin as Cloudflare knows it, with its tunnel and ports.
type SentHost struct {
	// ipv4 of the origin.
	// +optional
	// +kubebuilder:validation:MaxLength=15
	IPv4 string `json:"ipv4,omitempty"`
	// ipv6 of the origin.
	// +optional
	// +kubebuilder:validation:MaxLength=45
	IPv6 string `json:"ipv6,omitempty"`
	// hostname of the origin.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Hostname string `json:"hostname,omitempty"`
	// tunnelID is the tunnel (a UUID) that reaches (or resolves) the origin.
	// +optional
	// +kubebuilder:validation:MaxLength=36
	TunnelID string `json:"tunnelID,omitempty"`
	// resolverIPs are the DNS servers cloudflared resolves the hostname with.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:items:MaxLength=45
	ResolverIPs []string `json:"resolverIPs,omitempty"`
	// httpPort of an http origin.
	// +optional
	HTTPPort *int32 `json:"httpPort,omitempty"`
	// httpsPort of an http origin.
	// +optional
	HTTPSPort *int32 `json:"httpsPort,omitempty"`
	// tcpPort of a tcp origin.
	// +optional
	TCPPort *int32 `json:"tcpPort,omitempty"`
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
	Spec ConnectivityServiceSpec `json:"spec,omitzero"`

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

package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// DefaultConnectorImage is the cloudflared release the connector runs when spec.connector.image
// is empty: pinned, and no older than 2025.7.0, the first release Workers VPC works with.
const DefaultConnectorImage = "cloudflare/cloudflared:2025.11.1"

// CloudflareTunnelSpec is the desired Cloudflare Tunnel and the cloudflared connector that runs it.
// +kubebuilder:validation:XValidation:rule="has(self.accountRef) == has(oldSelf.accountRef) && (!has(self.accountRef) || self.accountRef == oldSelf.accountRef)",message="accountRef is immutable: a tunnel cannot move between accounts; delete the object and create a new one instead",fieldPath=".accountRef"
// +kubebuilder:validation:XValidation:rule="has(self.name) == has(oldSelf.name) && (!has(self.name) || self.name == oldSelf.name)",message="name is fixed when the tunnel is created (default k8s_<namespace>_<object name>): it cannot be added, changed or removed; create a new object for another tunnel",fieldPath=".name"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.tunnelID) || (has(self.tunnelID) && self.tunnelID == oldSelf.tunnelID)",message="tunnelID cannot change or be removed once set: create a new object for another tunnel",fieldPath=".tunnelID"
type CloudflareTunnelSpec struct {
	// name of the tunnel in Cloudflare, unique within the account. Defaults to
	// k8s_<namespace>_<object name>, which no other object of this cluster can have. Immutable.
	// Not used when tunnelID adopts an existing tunnel.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.trim() == self",message="name must not start or end with white space"
	Name string `json:"name,omitempty"`

	// tunnelID adopts the existing tunnel with this id instead of creating one: the operator
	// reads its connector token and runs the connector. Once set it cannot change. On an object
	// that already manages a tunnel it must name that tunnel.
	// +optional
	// +kubebuilder:validation:MaxLength=36
	// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$')",message="tunnelID must be a tunnel UUID such as 0191dce4-9ab4-7fce-b660-8e5dec5172da"
	TunnelID string `json:"tunnelID,omitempty"`

	// accountRef names the account object that holds the Cloudflare account id and credentials;
	// its API token needs "Cloudflare Tunnel Edit". Omitted means the ClusterCloudflareAccount
	// named "default". Immutable.
	// +optional
	AccountRef *AccountReference `json:"accountRef,omitempty"`

	// connector is the cloudflared Deployment the operator runs in this namespace.
	// +optional
	// +kubebuilder:default={}
	Connector ConnectorSpec `json:"connector,omitzero"`

	// deletionPolicy says whether deleting this object deletes the Cloudflare tunnel (Delete,
	// the default) or leaves it in place (Orphan). The connector goes with the object either way.
	// +optional
	// +kubebuilder:default=Delete
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`
}

// ConnectorSpec shapes the cloudflared Deployment that connects the tunnel to Cloudflare's edge.
type ConnectorSpec struct {
	// image of cloudflared: 2025.7.0 or newer, as Workers VPC needs. Defaults to a pinned release.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image,omitempty"`

	// replicas of the connector; each is one cloudflared with its own connections to the edge.
	// +optional
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=20
	Replicas *int32 `json:"replicas,omitempty"`

	// resources of the cloudflared container.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// nodeSelector of the connector pods.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// tolerations of the connector pods.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// affinity of the connector pods. Pods are spread over nodes in any case.
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`

	// extraArgs are added to `cloudflared tunnel` before `run`, such as --loglevel=debug.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=256
	ExtraArgs []string `json:"extraArgs,omitempty"`

	// networkPolicy limits the connector pods' egress to DNS, Cloudflare's edge and the origins
	// of the services that use the tunnel: the real boundary of what Workers reach. True by
	// default; set false to write your own.
	// +optional
	// +kubebuilder:default=true
	NetworkPolicy *bool `json:"networkPolicy,omitempty"`
}

// CloudflareTunnelStatus is what the operator last observed of the tunnel and its connector.
type CloudflareTunnelStatus struct {
	// conditions are Ready, Reconciling and Stalled, with kstatus meaning.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=32
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// tunnelID is the id (a UUID) of the Cloudflare tunnel; services refer to the tunnel by it.
	// +optional
	// +kubebuilder:validation:MaxLength=36
	TunnelID string `json:"tunnelID,omitempty"`

	// accountID is the Cloudflare account the tunnel lives in.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	AccountID string `json:"accountID,omitempty"`

	// tunnelStatus is the API's status of the tunnel: inactive, degraded, healthy or down.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	TunnelStatus string `json:"tunnelStatus,omitempty"`

	// connections is the number of active connections between the connector and the edge.
	// +optional
	Connections int32 `json:"connections,omitempty"`

	// availableReplicas is the number of available connector pods.
	// +optional
	AvailableReplicas int32 `json:"availableReplicas,omitempty"`

	// createdAt is when Cloudflare created the tunnel.
	// +optional
	CreatedAt *metav1.Time `json:"createdAt,omitempty"`

	// observedGeneration is the generation the Ready condition describes; -1 before the first.
	// +optional
	// +kubebuilder:default=-1
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=cftunnel,categories=cloudflare
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 52",message="a CloudflareTunnel's name is at most 52 characters, so the names of its connector's objects fit"
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Tunnel ID",type=string,JSONPath=`.status.tunnelID`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.tunnelStatus`
// +kubebuilder:printcolumn:name="Connections",type=integer,JSONPath=`.status.connections`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Message",type=string,priority=1,JSONPath=`.status.conditions[?(@.type=="Ready")].message`

// CloudflareTunnel is a Cloudflare Tunnel with the cloudflared connector that runs it in this
// namespace: the private network half of Workers VPC, which ConnectivityServices point at.
type CloudflareTunnel struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec is the desired tunnel and connector.
	// +required
	Spec CloudflareTunnelSpec `json:"spec"`

	// status is what the operator observed. It defaults to {observedGeneration: -1}, so a new
	// object reads as in progress (kstatus) before the operator has looked at it.
	// +optional
	// +kubebuilder:default={}
	Status CloudflareTunnelStatus `json:"status,omitzero"`
}

// SetObservedGeneration records the generation the conditions describe, for shared helpers.
func (t *CloudflareTunnel) SetObservedGeneration(g int64) { t.Status.ObservedGeneration = g }

// GetConditions returns the conditions, for condition helpers shared by every kind.
func (t *CloudflareTunnel) GetConditions() []metav1.Condition { return t.Status.Conditions }

// SetConditions replaces the conditions, for condition helpers shared by every kind.
func (t *CloudflareTunnel) SetConditions(c []metav1.Condition) { t.Status.Conditions = c }

// +kubebuilder:object:root=true

// CloudflareTunnelList contains a list of CloudflareTunnel.
type CloudflareTunnelList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitzero"`
	Items           []CloudflareTunnel `json:"items"`
}

func init() {
	SchemeBuilder.Register(func(s *runtime.Scheme) error {
		s.AddKnownTypes(SchemeGroupVersion, &CloudflareTunnel{}, &CloudflareTunnelList{})
		return nil
	})
}

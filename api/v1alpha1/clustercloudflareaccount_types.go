package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// ClusterSecretReference names a Secret for a cluster-scoped account.
type ClusterSecretReference struct {
	// name of the Secret. It holds apiToken, or apiKey and email (the legacy global key).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="!format.dns1123Subdomain().validate(self).hasValue()",message="secretRef.name must be a Kubernetes object name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
	Name string `json:"name,omitempty"`

	// namespace of the Secret. Defaults to the operator's cluster resource namespace
	// (--cluster-resource-namespace, by default the namespace the operator runs in).
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="!format.dns1123Label().validate(self).hasValue()",message="secretRef.namespace must be a namespace name: lowercase letters, digits and '-', starting and ending with a letter or digit"
	Namespace string `json:"namespace,omitempty"`
}

// ClusterCloudflareAccountSpec binds a Cloudflare account to credentials for the whole cluster.
type ClusterCloudflareAccountSpec struct {
	AccountSpec `json:",inline"`

	// secretRef names the Secret that holds the credentials.
	// +required
	SecretRef ClusterSecretReference `json:"secretRef,omitzero"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=cfclusteraccount,categories=cloudflare
// +kubebuilder:printcolumn:name="Account ID",type=string,JSONPath=`.spec.accountID`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Message",type=string,priority=1,JSONPath=`.status.conditions[?(@.type=="Ready")].message`

// ClusterCloudflareAccount is a Cloudflare account usable by ConnectivityServices of every
// namespace. The one named "default" serves services that name no account.
type ClusterCloudflareAccount struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec names the account and its credentials.
	// +required
	Spec ClusterCloudflareAccountSpec `json:"spec,omitzero"`

	// status reports whether the credentials work. It defaults to {observedGeneration: -1}, so a
	// new object reads as in progress (kstatus) before the operator has looked at it.
	// +optional
	// +kubebuilder:default={}
	Status AccountStatus `json:"status,omitzero"`
}

// GetAccountStatus returns the status both account kinds share, for the one account reconciler.
func (a *ClusterCloudflareAccount) GetAccountStatus() *AccountStatus { return &a.Status }

// GetConditions returns the conditions, for condition helpers shared by every kind.
func (a *ClusterCloudflareAccount) GetConditions() []metav1.Condition { return a.Status.Conditions }

// SetConditions replaces the conditions, for condition helpers shared by every kind.
func (a *ClusterCloudflareAccount) SetConditions(c []metav1.Condition) { a.Status.Conditions = c }

// +kubebuilder:object:root=true

// ClusterCloudflareAccountList contains a list of ClusterCloudflareAccount.
type ClusterCloudflareAccountList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitzero"`
	Items           []ClusterCloudflareAccount `json:"items"`
}

func init() {
	SchemeBuilder.Register(func(s *runtime.Scheme) error {
		s.AddKnownTypes(SchemeGroupVersion, &ClusterCloudflareAccount{}, &ClusterCloudflareAccountList{})
		return nil
	})
}

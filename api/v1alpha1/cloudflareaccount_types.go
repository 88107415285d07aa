package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// SecretReference names a Secret in the account object's own namespace.
type SecretReference struct {
	// name of the Secret. It holds apiToken, or apiKey and email (the legacy global key).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="!format.dns1123Subdomain().validate(self).hasValue()",message="secretRef.name must be a Kubernetes object name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
	Name string `json:"name,omitempty"`
}

// CloudflareAccountSpec binds a Cloudflare account to credentials in this namespace.
type CloudflareAccountSpec struct {
	AccountSpec `json:",inline"`

	// secretRef names the Secret, in this namespace, that holds the credentials.
	// +required
	SecretRef SecretReference `json:"secretRef,omitzero"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=cfaccount,categories=cloudflare
// +kubebuilder:printcolumn:name="Account ID",type=string,JSONPath=`.spec.accountID`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Message",type=string,priority=1,JSONPath=`.status.conditions[?(@.type=="Ready")].message`

// CloudflareAccount is a Cloudflare account usable by ConnectivityServices of its own namespace,
// with credentials read from a Secret in that namespace.
type CloudflareAccount struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec names the account and its credentials.
	// +required
	Spec CloudflareAccountSpec `json:"spec,omitzero"`

	// status reports whether the credentials work. It defaults to {observedGeneration: -1}, so a
	// new object reads as in progress (kstatus) before the operator has looked at it.
	// +optional
	// +kubebuilder:default={}
	Status AccountStatus `json:"status,omitzero"`
}

// GetAccountStatus returns the status both account kinds share, for the one account reconciler.
func (a *CloudflareAccount) GetAccountStatus() *AccountStatus { return &a.Status }

// GetConditions returns the conditions, for condition helpers shared by every kind.
func (a *CloudflareAccount) GetConditions() []metav1.Condition { return a.Status.Conditions }

// SetConditions replaces the conditions, for condition helpers shared by every kind.
func (a *CloudflareAccount) SetConditions(c []metav1.Condition) { a.Status.Conditions = c }

// +kubebuilder:object:root=true

// CloudflareAccountList contains a list of CloudflareAccount.
type CloudflareAccountList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitzero"`
	Items           []CloudflareAccount `json:"items"`
}

func init() {
	SchemeBuilder.Register(func(s *runtime.Scheme) error {
		s.AddKnownTypes(SchemeGroupVersion, &CloudflareAccount{}, &CloudflareAccountList{})
		return nil
	})
}

package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// AccountSpec is what both account kinds share: which Cloudflare account, and how fast to call it.
type AccountSpec struct {
	// accountID is the Cloudflare account id (32 hex characters, from the dashboard URL). Immutable.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9a-fA-F]+$')",message="accountID must be the hexadecimal Cloudflare account id, as shown in the dashboard URL"
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="accountID is immutable: create a new account object for another Cloudflare account"
	AccountID string `json:"accountID,omitempty"`

	// rateLimit overrides the operator's default API call budget for this account's credentials.
	// +optional
	RateLimit *RateLimit `json:"rateLimit,omitempty"`
}

// RateLimit is a token bucket over Cloudflare API calls, shared by everything that uses one
// credential. Cloudflare allows 1,200 calls per 5 minutes per token, for all of its clients.
type RateLimit struct {
	// requestsPer5m is the number of API calls allowed per 5 minutes.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1200
	RequestsPer5m *int32 `json:"requestsPer5m,omitempty"`

	// burst is how many calls may go out at once after a quiet period.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1200
	Burst *int32 `json:"burst,omitempty"`
}

// AccountStatus is what both account kinds report.
type AccountStatus struct {
	// conditions are Ready (credentials verified), Reconciling and Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=32
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the generation the Ready condition describes; -1 before the first.
	// +optional
	// +kubebuilder:default=-1
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

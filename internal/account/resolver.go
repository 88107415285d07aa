// Package account turns the account objects (CloudflareAccount, ClusterCloudflareAccount) and
// their Secrets into what a Cloudflare client needs: an account id and credentials. It is the one
// place that decides which Secret an object may read, so the namespace rules live here.
package account

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	"github.com/workersvpc/connectivity-operator/internal/cloudflare"
)

// Secret keys that hold credentials.
const (
	// KeyAPIToken holds an API token (preferred).
	KeyAPIToken = "apiToken"
	// KeyAPIKey holds a legacy global API key, used together with KeyEmail.
	KeyAPIKey = "apiKey"
	// KeyEmail holds the email of the legacy global API key's user.
	KeyEmail = "email"
)

var (
	// ErrAccountNotFound means the referenced account object does not exist.
	ErrAccountNotFound = errors.New("account not found")
	// ErrSecretNotFound means the account's Secret does not exist.
	ErrSecretNotFound = errors.New("secret not found")
	// ErrSecretIncomplete means the Secret exists but holds neither apiToken nor apiKey+email.
	ErrSecretIncomplete = errors.New("secret holds no usable credentials")
	// ErrCredentialsMalformed means a credential in the Secret has white space or a control
	// character inside it, which no Cloudflare token or key has (surrounding white space, such as
	// the newline `kubectl create secret --from-file` keeps, is trimmed instead).
	ErrCredentialsMalformed = errors.New("secret holds a credential with white space inside it")
)

// Account is a resolved account object: which Cloudflare account, and where its credentials are.
type Account struct {
	// Ref identifies the account object, e.g. "ClusterCloudflareAccount/default".
	Ref Ref
	// AccountID is the Cloudflare account id.
	AccountID string
	// Secret is where the credentials are.
	Secret types.NamespacedName
	// RateLimit is the account's override of the default API budget, if any.
	RateLimit *v1alpha1.RateLimit
	// Conditions are the account object's conditions, to tell whether it is Ready.
	Conditions []metav1.Condition
}

// Ready tells whether the account controller verified the credentials of this account.
func (a *Account) Ready() bool {
	return meta.IsStatusConditionTrue(a.Conditions, v1alpha1.ConditionReady)
}

// ReadyCondition returns the account's Ready condition, or nil before the first verification.
func (a *Account) ReadyCondition() *metav1.Condition {
	return meta.FindStatusCondition(a.Conditions, v1alpha1.ConditionReady)
}

// Ref names an account object; Namespace is empty for a ClusterCloudflareAccount.
type Ref struct {
	Kind      v1alpha1.AccountKind
	Namespace string
	Name      string
}

// String is the index key and the form used in messages.
func (r Ref) String() string {
	if r.Kind == v1alpha1.AccountKindNamespaced {
		return fmt.Sprintf("%s/%s/%s", r.Kind, r.Namespace, r.Name)
	}
	return fmt.Sprintf("%s/%s", r.Kind, r.Name)
}

// RefFor returns the account object a service uses: its accountRef, or the cluster account named
// "default". A namespaced CloudflareAccount is always looked up in the service's own namespace,
// so no service can use (or read the Secret of) another namespace's account.
func RefFor(svc *v1alpha1.ConnectivityService) Ref {
	return refOf(svc.Namespace, svc.Spec.AccountRef)
}

// TunnelRefFor is the account a CloudflareTunnel uses, by the same rules as services.
func TunnelRefFor(t *v1alpha1.CloudflareTunnel) Ref {
	return refOf(t.Namespace, t.Spec.AccountRef)
}

// refOf resolves an accountRef given in an object of namespace.
func refOf(namespace string, ref *v1alpha1.AccountReference) Ref {
	if ref == nil {
		return Ref{Kind: v1alpha1.AccountKindCluster, Name: v1alpha1.DefaultClusterAccountName}
	}
	if ref.Kind == v1alpha1.AccountKindNamespaced {
		return Ref{Kind: ref.Kind, Namespace: namespace, Name: ref.Name}
	}
	return Ref{Kind: v1alpha1.AccountKindCluster, Name: ref.Name}
}

// Resolver reads account objects (through the cache) and Secrets (through an uncached reader, so
// the operator never caches every Secret in the cluster).
type Resolver struct {
	// Client reads account objects.
	Client client.Reader
	// SecretReader reads Secrets; give it the manager's API reader (uncached).
	SecretReader client.Reader
	// ClusterResourceNamespace is where a ClusterCloudflareAccount's Secret lives when its
	// secretRef names no namespace.
	ClusterResourceNamespace string
}

// Get resolves an account object; ErrAccountNotFound when it does not exist.
func (r *Resolver) Get(ctx context.Context, ref Ref) (*Account, error) {
	if ref.Kind == v1alpha1.AccountKindNamespaced {
		var obj v1alpha1.CloudflareAccount
		if err := r.Client.Get(ctx, types.NamespacedName{Namespace: ref.Namespace, Name: ref.Name}, &obj); err != nil {
			return nil, notFoundAs(err, ErrAccountNotFound)
		}
		return r.Namespaced(&obj), nil
	}
	var obj v1alpha1.ClusterCloudflareAccount
	if err := r.Client.Get(ctx, types.NamespacedName{Name: ref.Name}, &obj); err != nil {
		return nil, notFoundAs(err, ErrAccountNotFound)
	}
	return r.Cluster(&obj), nil
}

// Namespaced describes a CloudflareAccount; its Secret is always in its own namespace.
func (r *Resolver) Namespaced(obj *v1alpha1.CloudflareAccount) *Account {
	return &Account{
		Ref:        Ref{Kind: v1alpha1.AccountKindNamespaced, Namespace: obj.Namespace, Name: obj.Name},
		AccountID:  obj.Spec.AccountID,
		Secret:     types.NamespacedName{Namespace: obj.Namespace, Name: obj.Spec.SecretRef.Name},
		RateLimit:  obj.Spec.RateLimit,
		Conditions: obj.Status.Conditions,
	}
}

// Cluster describes a ClusterCloudflareAccount; its Secret defaults to the cluster resource namespace.
func (r *Resolver) Cluster(obj *v1alpha1.ClusterCloudflareAccount) *Account {
	ns := obj.Spec.SecretRef.Namespace
	if ns == "" {
		ns = r.ClusterResourceNamespace
	}
	return &Account{
		Ref:        Ref{Kind: v1alpha1.AccountKindCluster, Name: obj.Name},
		AccountID:  obj.Spec.AccountID,
		Secret:     types.NamespacedName{Namespace: ns, Name: obj.Spec.SecretRef.Name},
		RateLimit:  obj.Spec.RateLimit,
		Conditions: obj.Status.Conditions,
	}
}

// Credentials reads the account's Secret; ErrSecretNotFound or ErrSecretIncomplete when unusable.
func (r *Resolver) Credentials(ctx context.Context, acct *Account) (cloudflare.Credentials, error) {
	creds, _, err := r.VersionedCredentials(ctx, acct)
	return creds, err
}

// VersionedCredentials is Credentials plus the Secret's resourceVersion, which tells whether the
// credentials changed since they were last verified.
func (r *Resolver) VersionedCredentials(ctx context.Context, acct *Account) (cloudflare.Credentials, string, error) {
	var secret corev1.Secret
	if err := r.SecretReader.Get(ctx, acct.Secret, &secret); err != nil {
		return cloudflare.Credentials{}, "", notFoundAs(err, ErrSecretNotFound)
	}
	creds := cloudflare.Credentials{
		APIToken: strings.TrimSpace(string(secret.Data[KeyAPIToken])),
		APIKey:   strings.TrimSpace(string(secret.Data[KeyAPIKey])),
		Email:    strings.TrimSpace(string(secret.Data[KeyEmail])),
	}
	for _, v := range []string{creds.APIToken, creds.APIKey, creds.Email} {
		if strings.IndexFunc(v, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
			return cloudflare.Credentials{}, "", ErrCredentialsMalformed
		}
	}
	if creds.APIToken == "" && (creds.APIKey == "" || creds.Email == "") {
		return cloudflare.Credentials{}, "", ErrSecretIncomplete
	}
	if creds.APIToken != "" {
		creds.APIKey, creds.Email = "", ""
	}
	return creds, secret.ResourceVersion, nil
}

// notFoundAs replaces a NotFound API error by sentinel, keeping other errors as they are.
func notFoundAs(err, sentinel error) error {
	if apierrors.IsNotFound(err) {
		return sentinel
	}
	return err
}

package account_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	"github.com/workersvpc/connectivity-operator/internal/account"
	"github.com/workersvpc/connectivity-operator/internal/cloudflare"
)

const (
	clusterResourceNamespace = "cf-operator-system"
	accountID                = "0123456789abcdef0123456789abcdef"
	secretName               = "cf-credentials"
	testToken                = "test-token"
	testKey                  = "test-global-key"
	testEmail                = "ops@example.com"
)

// scheme is built once: building it per subtest dominates the run time under -race.
var scheme = sync.OnceValues(func() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
})

func newScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s, err := scheme()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newResolver(t *testing.T, objs ...client.Object) *account.Resolver {
	t.Helper()
	c := fake.NewClientBuilder().WithScheme(newScheme(t)).WithObjects(objs...).Build()
	return &account.Resolver{Client: c, SecretReader: c, ClusterResourceNamespace: clusterResourceNamespace}
}

func secret(namespace, name string, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

func TestRefFor(t *testing.T) {
	tests := []struct {
		name       string
		namespace  string
		accountRef *v1alpha1.AccountReference
		want       account.Ref
	}{
		{
			name:      "no accountRef uses the default cluster account",
			namespace: "apps",
			want:      account.Ref{Kind: v1alpha1.AccountKindCluster, Name: v1alpha1.DefaultClusterAccountName},
		},
		{
			name:       "cluster account by name has no namespace",
			namespace:  "apps",
			accountRef: &v1alpha1.AccountReference{Kind: v1alpha1.AccountKindCluster, Name: "shared"},
			want:       account.Ref{Kind: v1alpha1.AccountKindCluster, Name: "shared"},
		},
		{
			name:       "empty kind means the cluster account",
			namespace:  "apps",
			accountRef: &v1alpha1.AccountReference{Name: "shared"},
			want:       account.Ref{Kind: v1alpha1.AccountKindCluster, Name: "shared"},
		},
		{
			name:       "namespaced account is looked up in the service's namespace",
			namespace:  "apps",
			accountRef: &v1alpha1.AccountReference{Kind: v1alpha1.AccountKindNamespaced, Name: "team"},
			want:       account.Ref{Kind: v1alpha1.AccountKindNamespaced, Namespace: "apps", Name: "team"},
		},
		{
			name:       "namespaced account follows the service into another namespace",
			namespace:  "billing",
			accountRef: &v1alpha1.AccountReference{Kind: v1alpha1.AccountKindNamespaced, Name: "team"},
			want:       account.Ref{Kind: v1alpha1.AccountKindNamespaced, Namespace: "billing", Name: "team"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc := &v1alpha1.ConnectivityService{
				ObjectMeta: metav1.ObjectMeta{Namespace: tt.namespace, Name: "web"},
				Spec:       v1alpha1.ConnectivityServiceSpec{AccountRef: tt.accountRef},
			}
			if got := account.RefFor(svc); got != tt.want {
				t.Errorf("RefFor() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRefString(t *testing.T) {
	tests := []struct {
		name string
		ref  account.Ref
		want string
	}{
		{
			name: "cluster",
			ref:  account.Ref{Kind: v1alpha1.AccountKindCluster, Name: "default"},
			want: "ClusterCloudflareAccount/default",
		},
		{
			name: "namespaced",
			ref:  account.Ref{Kind: v1alpha1.AccountKindNamespaced, Namespace: "apps", Name: "team"},
			want: "CloudflareAccount/apps/team",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.ref.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCredentials(t *testing.T) {
	where := types.NamespacedName{Namespace: "apps", Name: secretName}
	tests := []struct {
		name    string
		data    map[string]string // nil: no Secret
		want    cloudflare.Credentials
		wantErr error
	}{
		{
			name: "api token",
			data: map[string]string{account.KeyAPIToken: testToken},
			want: cloudflare.Credentials{APIToken: testToken},
		},
		{
			name: "legacy key and email",
			data: map[string]string{account.KeyAPIKey: testKey, account.KeyEmail: testEmail},
			want: cloudflare.Credentials{APIKey: testKey, Email: testEmail},
		},
		{
			name: "token wins over key and email",
			data: map[string]string{account.KeyAPIToken: testToken, account.KeyAPIKey: testKey, account.KeyEmail: testEmail},
			want: cloudflare.Credentials{APIToken: testToken},
		},
		{
			name: "token with only a key",
			data: map[string]string{account.KeyAPIToken: testToken, account.KeyAPIKey: testKey},
			want: cloudflare.Credentials{APIToken: testToken},
		},
		{
			name:    "missing Secret",
			data:    nil,
			wantErr: account.ErrSecretNotFound,
		},
		{
			name:    "empty Secret",
			data:    map[string]string{},
			wantErr: account.ErrSecretIncomplete,
		},
		{
			name:    "key without email",
			data:    map[string]string{account.KeyAPIKey: testKey},
			wantErr: account.ErrSecretIncomplete,
		},
		{
			name:    "email without key",
			data:    map[string]string{account.KeyEmail: testEmail},
			wantErr: account.ErrSecretIncomplete,
		},
		{
			name:    "empty token",
			data:    map[string]string{account.KeyAPIToken: ""},
			wantErr: account.ErrSecretIncomplete,
		},
		{
			name:    "keys under other names",
			data:    map[string]string{"token": testToken, "api-key": testKey},
			wantErr: account.ErrSecretIncomplete,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var objs []client.Object
			if tt.data != nil {
				objs = append(objs, secret(where.Namespace, where.Name, tt.data))
			}
			// A Secret of the same name elsewhere must not be read.
			objs = append(objs, secret("other", where.Name, map[string]string{account.KeyAPIToken: "other-token"}))
			r := newResolver(t, objs...)

			got, err := r.Credentials(context.Background(), &account.Account{Secret: where})
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Credentials() error = %v, want %v", err, tt.wantErr)
				}
				if got != (cloudflare.Credentials{}) {
					t.Errorf("Credentials() returned %v with an error, want empty credentials", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Credentials() error = %v", err)
			}
			if got != tt.want {
				t.Errorf("Credentials() = %#v, want the expected %v", got, tt.want.String())
			}
		})
	}
}

func TestCredentialsKeepsOtherErrors(t *testing.T) {
	errAPI := errors.New("apiserver unavailable")
	c := fake.NewClientBuilder().WithScheme(newScheme(t)).WithInterceptorFuncs(interceptor.Funcs{
		Get: func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error {
			return errAPI
		},
	}).Build()
	r := &account.Resolver{Client: c, SecretReader: c, ClusterResourceNamespace: clusterResourceNamespace}

	_, err := r.Credentials(context.Background(), &account.Account{Secret: types.NamespacedName{Namespace: "apps", Name: secretName}})
	if !errors.Is(err, errAPI) {
		t.Errorf("Credentials() error = %v, want the reader's error", err)
	}
	if errors.Is(err, account.ErrSecretNotFound) || errors.Is(err, account.ErrSecretIncomplete) {
		t.Errorf("Credentials() error = %v: a failed read is neither a missing nor an incomplete Secret", err)
	}

	_, err = r.Get(context.Background(), account.Ref{Kind: v1alpha1.AccountKindCluster, Name: "default"})
	if !errors.Is(err, errAPI) || errors.Is(err, account.ErrAccountNotFound) {
		t.Errorf("Get() error = %v, want the reader's error, not ErrAccountNotFound", err)
	}
}

func TestCredentialsReadsTheSecretReader(t *testing.T) {
	s := newScheme(t)
	cached := fake.NewClientBuilder().WithScheme(s).Build()
	uncached := fake.NewClientBuilder().WithScheme(s).
		WithObjects(secret("apps", secretName, map[string]string{account.KeyAPIToken: testToken})).Build()
	r := &account.Resolver{Client: cached, SecretReader: uncached}

	got, err := r.Credentials(context.Background(), &account.Account{Secret: types.NamespacedName{Namespace: "apps", Name: secretName}})
	if err != nil {
		t.Fatalf("Credentials() error = %v, want the Secret read through SecretReader", err)
	}
	if got.APIToken != testToken {
		t.Error("Credentials() did not return the token from SecretReader")
	}
}

func TestCluster(t *testing.T) {
	tests := []struct {
		name      string
		secretRef v1alpha1.ClusterSecretReference
		want      types.NamespacedName
	}{
		{
			name:      "no namespace defaults to the cluster resource namespace",
			secretRef: v1alpha1.ClusterSecretReference{Name: secretName},
			want:      types.NamespacedName{Namespace: clusterResourceNamespace, Name: secretName},
		},
		{
			name:      "an explicit namespace is kept",
			secretRef: v1alpha1.ClusterSecretReference{Name: secretName, Namespace: "infra"},
			want:      types.NamespacedName{Namespace: "infra", Name: secretName},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &account.Resolver{ClusterResourceNamespace: clusterResourceNamespace}
			obj := &v1alpha1.ClusterCloudflareAccount{
				ObjectMeta: metav1.ObjectMeta{Name: "default"},
				Spec: v1alpha1.ClusterCloudflareAccountSpec{
					AccountSpec: v1alpha1.AccountSpec{AccountID: accountID},
					SecretRef:   tt.secretRef,
				},
			}
			got := r.Cluster(obj)
			if got.Secret != tt.want {
				t.Errorf("Cluster().Secret = %v, want %v", got.Secret, tt.want)
			}
			wantRef := account.Ref{Kind: v1alpha1.AccountKindCluster, Name: "default"}
			if got.Ref != wantRef || got.AccountID != accountID {
				t.Errorf("Cluster() = ref %+v account %q, want ref %+v account %q", got.Ref, got.AccountID, wantRef, accountID)
			}
		})
	}
}

func TestGet(t *testing.T) {
	ready := []metav1.Condition{{
		Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Verified",
		LastTransitionTime: metav1.Now(),
	}}
	burst := int32(5)
	objs := []client.Object{
		&v1alpha1.ClusterCloudflareAccount{
			ObjectMeta: metav1.ObjectMeta{Name: "default"},
			Spec: v1alpha1.ClusterCloudflareAccountSpec{
				AccountSpec: v1alpha1.AccountSpec{AccountID: accountID, RateLimit: &v1alpha1.RateLimit{Burst: &burst}},
				SecretRef:   v1alpha1.ClusterSecretReference{Name: secretName},
			},
			Status: v1alpha1.AccountStatus{Conditions: ready},
		},
		&v1alpha1.CloudflareAccount{
			ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "team"},
			Spec: v1alpha1.CloudflareAccountSpec{
				AccountSpec: v1alpha1.AccountSpec{AccountID: "fedcba9876543210fedcba9876543210"},
				SecretRef:   v1alpha1.SecretReference{Name: "team-credentials"},
			},
		},
	}

	tests := []struct {
		name       string
		ref        account.Ref
		wantErr    error
		wantID     string
		wantSecret types.NamespacedName
		wantReady  bool
		wantBurst  *int32
	}{
		{
			name:       "cluster account",
			ref:        account.Ref{Kind: v1alpha1.AccountKindCluster, Name: "default"},
			wantID:     accountID,
			wantSecret: types.NamespacedName{Namespace: clusterResourceNamespace, Name: secretName},
			wantReady:  true,
			wantBurst:  &burst,
		},
		{
			name:       "namespaced account reads its Secret from its own namespace",
			ref:        account.Ref{Kind: v1alpha1.AccountKindNamespaced, Namespace: "apps", Name: "team"},
			wantID:     "fedcba9876543210fedcba9876543210",
			wantSecret: types.NamespacedName{Namespace: "apps", Name: "team-credentials"},
			wantReady:  false,
		},
		{
			name:    "missing cluster account",
			ref:     account.Ref{Kind: v1alpha1.AccountKindCluster, Name: "absent"},
			wantErr: account.ErrAccountNotFound,
		},
		{
			name:    "missing namespaced account",
			ref:     account.Ref{Kind: v1alpha1.AccountKindNamespaced, Namespace: "apps", Name: "absent"},
			wantErr: account.ErrAccountNotFound,
		},
		{
			name:    "namespaced account of another namespace",
			ref:     account.Ref{Kind: v1alpha1.AccountKindNamespaced, Namespace: "billing", Name: "team"},
			wantErr: account.ErrAccountNotFound,
		},
		{
			name:    "a cluster account is not found as a namespaced one",
			ref:     account.Ref{Kind: v1alpha1.AccountKindNamespaced, Namespace: "apps", Name: "default"},
			wantErr: account.ErrAccountNotFound,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newResolver(t, objs...)
			got, err := r.Get(context.Background(), tt.ref)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Get() error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Get() error = %v", err)
			}
			if got.Ref != tt.ref {
				t.Errorf("Ref = %+v, want %+v", got.Ref, tt.ref)
			}
			if got.AccountID != tt.wantID {
				t.Errorf("AccountID = %q, want %q", got.AccountID, tt.wantID)
			}
			if got.Secret != tt.wantSecret {
				t.Errorf("Secret = %v, want %v", got.Secret, tt.wantSecret)
			}
			if got.Ready() != tt.wantReady {
				t.Errorf("Ready() = %v, want %v", got.Ready(), tt.wantReady)
			}
			if (got.ReadyCondition() != nil) != tt.wantReady {
				t.Errorf("ReadyCondition() = %v, want one only when Ready was reported", got.ReadyCondition())
			}
			if gotBurst := burstOf(got); !equalPtr(gotBurst, tt.wantBurst) {
				t.Errorf("RateLimit.Burst = %v, want %v", gotBurst, tt.wantBurst)
			}
		})
	}
}

func burstOf(a *account.Account) *int32 {
	if a.RateLimit == nil {
		return nil
	}
	return a.RateLimit.Burst
}

func equalPtr(a, b *int32) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func TestGetThenCredentials(t *testing.T) {
	r := newResolver(t,
		&v1alpha1.ClusterCloudflareAccount{
			ObjectMeta: metav1.ObjectMeta{Name: "default"},
			Spec: v1alpha1.ClusterCloudflareAccountSpec{
				AccountSpec: v1alpha1.AccountSpec{AccountID: accountID},
				SecretRef:   v1alpha1.ClusterSecretReference{Name: secretName},
			},
		},
		secret(clusterResourceNamespace, secretName, map[string]string{account.KeyAPIToken: testToken}),
	)
	svc := &v1alpha1.ConnectivityService{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "web"}}

	acct, err := r.Get(context.Background(), account.RefFor(svc))
	if err != nil {
		t.Fatalf("Get() error = %v", err)
	}
	creds, err := r.Credentials(context.Background(), acct)
	if err != nil {
		t.Fatalf("Credentials() error = %v", err)
	}
	if creds.APIToken != testToken {
		t.Error("Credentials() did not return the token of the default account's Secret")
	}
}

package servicespec_test

import (
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	"github.com/workersvpc/connectivity-operator/internal/cloudflare"
	"github.com/workersvpc/connectivity-operator/internal/servicespec"
)

const (
	tunnelID      = "0191dce4-9ab4-7fce-b660-8e5dec5172da"
	tunnelIDUpper = "0191DCE4-9AB4-7FCE-B660-8E5DEC5172DA"
	otherTunnelID = "11111111-2222-3333-4444-555555555555"
)

func TestName(t *testing.T) {
	tests := []struct {
		name     string
		specName string
		metaName string
		want     string
	}{
		{name: "spec.name wins", specName: "billing-db", metaName: "db", want: "billing-db"},
		{name: "empty spec.name falls back to metadata.name", specName: "", metaName: "db", want: "db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := &v1alpha1.ConnectivityService{
				ObjectMeta: metav1.ObjectMeta{Name: tt.metaName, Namespace: "apps"},
				Spec:       v1alpha1.ConnectivityServiceSpec{Name: tt.specName},
			}
			if got := servicespec.Name(obj); got != tt.want {
				t.Errorf("Name() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestBuild(t *testing.T) {
	tests := []struct {
		name string
		spec v1alpha1.ConnectivityServiceSpec
		want cloudflare.Service
	}{
		{
			name: "ipv4 host with network, no ports, no tls",
			spec: v1alpha1.ConnectivityServiceSpec{
				Type: v1alpha1.ServiceTypeHTTP,
				Host: v1alpha1.ServiceHost{IPv4: "10.0.0.5", Network: &v1alpha1.Network{TunnelID: tunnelID}},
			},
			want: cloudflare.Service{
				Name: "web", Type: "http",
				Host: cloudflare.Host{IPv4: "10.0.0.5", Network: &cloudflare.Network{TunnelID: tunnelID}},
			},
		},
		{
			name: "ipv6 host",
			spec: v1alpha1.ConnectivityServiceSpec{
				Type: v1alpha1.ServiceTypeHTTP,
				Host: v1alpha1.ServiceHost{IPv6: "fd00::5", Network: &v1alpha1.Network{TunnelID: tunnelID}},
			},
			want: cloudflare.Service{
				Name: "web", Type: "http",
				Host: cloudflare.Host{IPv6: "fd00::5", Network: &cloudflare.Network{TunnelID: tunnelID}},
			},
		},
		{
			name: "dual stack host",
			spec: v1alpha1.ConnectivityServiceSpec{
				Type: v1alpha1.ServiceTypeHTTP,
				Host: v1alpha1.ServiceHost{IPv4: "10.0.0.5", IPv6: "fd00::5", Network: &v1alpha1.Network{TunnelID: tunnelID}},
			},
			want: cloudflare.Service{
				Name: "web", Type: "http",
				Host: cloudflare.Host{IPv4: "10.0.0.5", IPv6: "fd00::5", Network: &cloudflare.Network{TunnelID: tunnelID}},
			},
		},
		{
			name: "hostname host with resolver network and resolver IPs",
			spec: v1alpha1.ConnectivityServiceSpec{
				Type: v1alpha1.ServiceTypeHTTP,
				Host: v1alpha1.ServiceHost{
					Hostname:        "web.apps.svc.cluster.local",
					ResolverNetwork: &v1alpha1.ResolverNetwork{TunnelID: tunnelID, ResolverIPs: []string{"10.96.0.10", "10.96.0.11"}},
				},
			},
			want: cloudflare.Service{
				Name: "web", Type: "http",
				Host: cloudflare.Host{
					Hostname:        "web.apps.svc.cluster.local",
					ResolverNetwork: &cloudflare.ResolverNetwork{TunnelID: tunnelID, ResolverIPs: []string{"10.96.0.10", "10.96.0.11"}},
				},
			},
		},
		{
			name: "hostname host without resolver IPs keeps them nil",
			spec: v1alpha1.ConnectivityServiceSpec{
				Type: v1alpha1.ServiceTypeHTTP,
				Host: v1alpha1.ServiceHost{
					Hostname:        "web.apps.svc.cluster.local",
					ResolverNetwork: &v1alpha1.ResolverNetwork{TunnelID: tunnelID},
				},
			},
			want: cloudflare.Service{
				Name: "web", Type: "http",
				Host: cloudflare.Host{
					Hostname:        "web.apps.svc.cluster.local",
					ResolverNetwork: &cloudflare.ResolverNetwork{TunnelID: tunnelID},
				},
			},
		},
		{
			name: "http ports and spec.name",
			spec: v1alpha1.ConnectivityServiceSpec{
				Name:     "frontend",
				Type:     v1alpha1.ServiceTypeHTTP,
				Host:     v1alpha1.ServiceHost{IPv4: "10.0.0.5", Network: &v1alpha1.Network{TunnelID: tunnelID}},
				HTTPPort: new(int32(8080)), HTTPSPort: new(int32(8443)),
			},
			want: cloudflare.Service{
				Name: "frontend", Type: "http",
				Host:     cloudflare.Host{IPv4: "10.0.0.5", Network: &cloudflare.Network{TunnelID: tunnelID}},
				HTTPPort: new(int32(8080)), HTTPSPort: new(int32(8443)),
			},
		},
		{
			name: "tcp port and app protocol",
			spec: v1alpha1.ConnectivityServiceSpec{
				Type:    v1alpha1.ServiceTypeTCP,
				Host:    v1alpha1.ServiceHost{IPv4: "10.0.0.6", Network: &v1alpha1.Network{TunnelID: tunnelID}},
				TCPPort: new(int32(5432)), AppProtocol: "postgresql",
			},
			want: cloudflare.Service{
				Name: "web", Type: "tcp",
				Host:    cloudflare.Host{IPv4: "10.0.0.6", Network: &cloudflare.Network{TunnelID: tunnelID}},
				TCPPort: new(int32(5432)), AppProtocol: "postgresql",
			},
		},
		{
			name: "tlsSettings maps to tls_settings",
			spec: v1alpha1.ConnectivityServiceSpec{
				Type:        v1alpha1.ServiceTypeHTTP,
				Host:        v1alpha1.ServiceHost{IPv4: "10.0.0.5", Network: &v1alpha1.Network{TunnelID: tunnelID}},
				TLSSettings: &v1alpha1.TLSSettings{CertVerificationMode: v1alpha1.CertVerifyCA},
			},
			want: cloudflare.Service{
				Name: "web", Type: "http",
				Host:        cloudflare.Host{IPv4: "10.0.0.5", Network: &cloudflare.Network{TunnelID: tunnelID}},
				TLSSettings: &cloudflare.TLSSettings{CertVerificationMode: "verify_ca"},
			},
		},
		{
			name: "tlsSettings disabled",
			spec: v1alpha1.ConnectivityServiceSpec{
				Type:        v1alpha1.ServiceTypeHTTP,
				Host:        v1alpha1.ServiceHost{IPv4: "10.0.0.5", Network: &v1alpha1.Network{TunnelID: tunnelID}},
				TLSSettings: &v1alpha1.TLSSettings{CertVerificationMode: v1alpha1.CertVerifyDisabled},
			},
			want: cloudflare.Service{
				Name: "web", Type: "http",
				Host:        cloudflare.Host{IPv4: "10.0.0.5", Network: &cloudflare.Network{TunnelID: tunnelID}},
				TLSSettings: &cloudflare.TLSSettings{CertVerificationMode: "disabled"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := &v1alpha1.ConnectivityService{
				ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "apps"},
				Spec:       tt.spec,
			}
			got := servicespec.Build(obj)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Build() =\n%+v\nwant\n%+v", got, tt.want)
			}
			// Absent ports must stay absent: Cloudflare treats "no http ports" differently from 80/443
			// set explicitly, and tcp services must not carry http ports at all.
			if (tt.spec.HTTPPort == nil) != (got.HTTPPort == nil) ||
				(tt.spec.HTTPSPort == nil) != (got.HTTPSPort == nil) ||
				(tt.spec.TCPPort == nil) != (got.TCPPort == nil) {
				t.Errorf("Build() ports presence = http %v https %v tcp %v, want as in spec",
					got.HTTPPort != nil, got.HTTPSPort != nil, got.TCPPort != nil)
			}
			// Build is what the controller compares against remote state: it must agree with itself.
			if !servicespec.Equal(got, got) {
				t.Errorf("Equal(Build(), Build()) = false")
			}
		})
	}
}

func TestBuildCopiesResolverIPs(t *testing.T) {
	ips := []string{"10.96.0.10", "10.96.0.11"}
	obj := &v1alpha1.ConnectivityService{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "apps"},
		Spec: v1alpha1.ConnectivityServiceSpec{
			Type: v1alpha1.ServiceTypeHTTP,
			Host: v1alpha1.ServiceHost{
				Hostname:        "web.apps.svc.cluster.local",
				ResolverNetwork: &v1alpha1.ResolverNetwork{TunnelID: tunnelID, ResolverIPs: ips},
			},
		},
	}

	got := servicespec.Build(obj)
	got.Host.ResolverNetwork.ResolverIPs[0] = "192.0.2.1"
	if ips[0] != "10.96.0.10" {
		t.Errorf("writing the built service's resolver IPs changed the spec: spec resolverIPs = %v", ips)
	}

	ips[1] = "192.0.2.2"
	if got.Host.ResolverNetwork.ResolverIPs[1] != "10.96.0.11" {
		t.Errorf("writing the spec's resolver IPs changed the built service: %v", got.Host.ResolverNetwork.ResolverIPs)
	}
}

// httpService is a minimal http service on an IPv4 host; with returns a modified copy.
func httpService() cloudflare.Service {
	return cloudflare.Service{
		Name: "web",
		Type: "http",
		Host: cloudflare.Host{IPv4: "10.0.0.5", Network: &cloudflare.Network{TunnelID: tunnelID}},
	}
}

func hostnameService(ips ...string) cloudflare.Service {
	return cloudflare.Service{
		Name: "web",
		Type: "http",
		Host: cloudflare.Host{
			Hostname:        "web.apps.svc.cluster.local",
			ResolverNetwork: &cloudflare.ResolverNetwork{TunnelID: tunnelID, ResolverIPs: ips},
		},
	}
}

func tcpService() cloudflare.Service {
	return cloudflare.Service{
		Name:        "db",
		Type:        "tcp",
		Host:        cloudflare.Host{IPv4: "10.0.0.6", Network: &cloudflare.Network{TunnelID: tunnelID}},
		TCPPort:     new(int32(5432)),
		AppProtocol: "postgresql",
	}
}

func with(s cloudflare.Service, edit func(*cloudflare.Service)) cloudflare.Service {
	edit(&s)
	return s
}

func TestEqual(t *testing.T) {
	tests := []struct {
		name string
		a, b cloudflare.Service
		want bool
	}{
		{name: "identical", a: httpService(), b: httpService(), want: true},
		{
			name: "ids and timestamps are ignored",
			a:    httpService(),
			b: with(httpService(), func(s *cloudflare.Service) {
				s.ID = "0b1f8a6e-0000-0000-0000-000000000001"
				s.CreatedAt = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
				s.UpdatedAt = time.Date(2025, 2, 3, 4, 5, 6, 0, time.UTC)
			}),
			want: true,
		},

		// tls_settings
		{
			name: "absent tls equals verify_full",
			a:    httpService(),
			b: with(httpService(), func(s *cloudflare.Service) {
				s.TLSSettings = &cloudflare.TLSSettings{CertVerificationMode: "verify_full"}
			}),
			want: true,
		},
		{
			name: "empty tls mode equals verify_full",
			a: with(httpService(), func(s *cloudflare.Service) {
				s.TLSSettings = &cloudflare.TLSSettings{}
			}),
			b: with(httpService(), func(s *cloudflare.Service) {
				s.TLSSettings = &cloudflare.TLSSettings{CertVerificationMode: "verify_full"}
			}),
			want: true,
		},
		{
			name: "absent tls is not verify_ca",
			a:    httpService(),
			b: with(httpService(), func(s *cloudflare.Service) {
				s.TLSSettings = &cloudflare.TLSSettings{CertVerificationMode: "verify_ca"}
			}),
			want: false,
		},
		{
			name: "disabled is not verify_full",
			a: with(httpService(), func(s *cloudflare.Service) {
				s.TLSSettings = &cloudflare.TLSSettings{CertVerificationMode: "disabled"}
			}),
			b: with(httpService(), func(s *cloudflare.Service) {
				s.TLSSettings = &cloudflare.TLSSettings{CertVerificationMode: "verify_full"}
			}),
			want: false,
		},

		// http ports
		{
			name: "both http ports absent equals 80 and 443",
			a:    httpService(),
			b: with(httpService(), func(s *cloudflare.Service) {
				s.HTTPPort, s.HTTPSPort = new(int32(80)), new(int32(443))
			}),
			want: true,
		},
		{
			name: "only http port 80 is not both absent",
			a:    httpService(),
			b: with(httpService(), func(s *cloudflare.Service) {
				s.HTTPPort = new(int32(80))
			}),
			want: false,
		},
		{
			name: "only https port 443 is not both absent",
			a:    httpService(),
			b: with(httpService(), func(s *cloudflare.Service) {
				s.HTTPSPort = new(int32(443))
			}),
			want: false,
		},
		{
			name: "only http port 80 is not 80 and 443",
			a: with(httpService(), func(s *cloudflare.Service) {
				s.HTTPPort = new(int32(80))
			}),
			b: with(httpService(), func(s *cloudflare.Service) {
				s.HTTPPort, s.HTTPSPort = new(int32(80)), new(int32(443))
			}),
			want: false,
		},
		{
			name: "both absent is not other explicit ports",
			a:    httpService(),
			b: with(httpService(), func(s *cloudflare.Service) {
				s.HTTPPort, s.HTTPSPort = new(int32(8080)), new(int32(8443))
			}),
			want: false,
		},
		{
			name: "same explicit http ports",
			a: with(httpService(), func(s *cloudflare.Service) {
				s.HTTPPort, s.HTTPSPort = new(int32(8080)), new(int32(8443))
			}),
			b: with(httpService(), func(s *cloudflare.Service) {
				s.HTTPPort, s.HTTPSPort = new(int32(8080)), new(int32(8443))
			}),
			want: true,
		},
		{
			name: "different http port",
			a: with(httpService(), func(s *cloudflare.Service) {
				s.HTTPPort = new(int32(8080))
			}),
			b: with(httpService(), func(s *cloudflare.Service) {
				s.HTTPPort = new(int32(8081))
			}),
			want: false,
		},
		{
			name: "tcp service without http ports does not get the http defaults",
			a:    tcpService(),
			b: with(tcpService(), func(s *cloudflare.Service) {
				s.HTTPPort, s.HTTPSPort = new(int32(80)), new(int32(443))
			}),
			want: false,
		},

		// resolver network
		{
			name: "resolver IP order is ignored",
			a:    hostnameService("10.96.0.10", "10.96.0.11", "fd00::53"),
			b:    hostnameService("fd00::53", "10.96.0.11", "10.96.0.10"),
			want: true,
		},
		{
			name: "resolver IP notation is ignored",
			a:    hostnameService("fd00:0::53"),
			b:    hostnameService("FD00::53"),
			want: true,
		},
		{
			name: "nil and empty resolver IPs are the same",
			a:    hostnameService(),
			b:    hostnameService([]string{}...),
			want: true,
		},
		{
			name: "different resolver IPs",
			a:    hostnameService("10.96.0.10"),
			b:    hostnameService("10.96.0.11"),
			want: false,
		},
		{
			name: "an extra resolver IP",
			a:    hostnameService("10.96.0.10"),
			b:    hostnameService("10.96.0.10", "10.96.0.11"),
			want: false,
		},
		{
			name: "resolver tunnel id case is ignored",
			a:    hostnameService(),
			b: with(hostnameService(), func(s *cloudflare.Service) {
				s.Host.ResolverNetwork.TunnelID = tunnelIDUpper
			}),
			want: true,
		},
		{
			name: "different resolver tunnel",
			a:    hostnameService(),
			b: with(hostnameService(), func(s *cloudflare.Service) {
				s.Host.ResolverNetwork.TunnelID = otherTunnelID
			}),
			want: false,
		},
		{
			name: "resolver network present on one side only",
			a:    hostnameService(),
			b: with(hostnameService(), func(s *cloudflare.Service) {
				s.Host.ResolverNetwork = nil
			}),
			want: false,
		},

		// addresses and names
		{
			name: "IPv6 notation fd00:0::5 equals fd00::5",
			a: with(httpService(), func(s *cloudflare.Service) {
				s.Host.IPv4, s.Host.IPv6 = "", "fd00:0::5"
			}),
			b: with(httpService(), func(s *cloudflare.Service) {
				s.Host.IPv4, s.Host.IPv6 = "", "fd00::5"
			}),
			want: true,
		},
		{
			name: "IPv6 case is ignored",
			a: with(httpService(), func(s *cloudflare.Service) {
				s.Host.IPv4, s.Host.IPv6 = "", "FD00::A"
			}),
			b: with(httpService(), func(s *cloudflare.Service) {
				s.Host.IPv4, s.Host.IPv6 = "", "fd00::a"
			}),
			want: true,
		},
		{
			name: "different IPv6",
			a: with(httpService(), func(s *cloudflare.Service) {
				s.Host.IPv4, s.Host.IPv6 = "", "fd00::5"
			}),
			b: with(httpService(), func(s *cloudflare.Service) {
				s.Host.IPv4, s.Host.IPv6 = "", "fd00::6"
			}),
			want: false,
		},
		{
			name: "different IPv4",
			a:    httpService(),
			b: with(httpService(), func(s *cloudflare.Service) {
				s.Host.IPv4 = "10.0.0.6"
			}),
			want: false,
		},
		{
			name: "dual stack is not ipv4 only",
			a:    httpService(),
			b: with(httpService(), func(s *cloudflare.Service) {
				s.Host.IPv6 = "fd00::5"
			}),
			want: false,
		},
		{
			name: "hostname case is ignored",
			a:    hostnameService(),
			b: with(hostnameService(), func(s *cloudflare.Service) {
				s.Host.Hostname = "Web.Apps.SVC.cluster.local"
			}),
			want: true,
		},
		{
			name: "hostname trailing dot is ignored",
			a:    hostnameService(),
			b: with(hostnameService(), func(s *cloudflare.Service) {
				s.Host.Hostname = "web.apps.svc.cluster.local."
			}),
			want: true,
		},
		{
			name: "different hostname",
			a:    hostnameService(),
			b: with(hostnameService(), func(s *cloudflare.Service) {
				s.Host.Hostname = "api.apps.svc.cluster.local"
			}),
			want: false,
		},
		{
			name: "network tunnel id case is ignored",
			a:    httpService(),
			b: with(httpService(), func(s *cloudflare.Service) {
				s.Host.Network = &cloudflare.Network{TunnelID: tunnelIDUpper}
			}),
			want: true,
		},
		{
			name: "different network tunnel",
			a:    httpService(),
			b: with(httpService(), func(s *cloudflare.Service) {
				s.Host.Network = &cloudflare.Network{TunnelID: otherTunnelID}
			}),
			want: false,
		},
		{
			name: "network present on one side only",
			a:    httpService(),
			b: with(httpService(), func(s *cloudflare.Service) {
				s.Host.Network = nil
			}),
			want: false,
		},

		// the rest of the body
		{
			name: "different name",
			a:    httpService(),
			b: with(httpService(), func(s *cloudflare.Service) {
				s.Name = "web2"
			}),
			want: false,
		},
		{
			name: "different type",
			a:    httpService(),
			b: with(httpService(), func(s *cloudflare.Service) {
				s.Type = "tcp"
			}),
			want: false,
		},
		{
			name: "different app protocol",
			a:    tcpService(),
			b: with(tcpService(), func(s *cloudflare.Service) {
				s.AppProtocol = "mysql"
			}),
			want: false,
		},
		{
			name: "app protocol present on one side only",
			a:    tcpService(),
			b: with(tcpService(), func(s *cloudflare.Service) {
				s.AppProtocol = ""
			}),
			want: false,
		},
		{
			name: "different tcp port",
			a:    tcpService(),
			b: with(tcpService(), func(s *cloudflare.Service) {
				s.TCPPort = new(int32(5433))
			}),
			want: false,
		},
		{
			name: "tcp port present on one side only",
			a:    tcpService(),
			b: with(tcpService(), func(s *cloudflare.Service) {
				s.TCPPort = nil
			}),
			want: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := servicespec.Equal(tt.a, tt.b); got != tt.want {
				t.Errorf("Equal(a, b) = %v, want %v\na = %+v\nb = %+v", got, tt.want, tt.a, tt.b)
			}
			if got := servicespec.Equal(tt.b, tt.a); got != tt.want {
				t.Errorf("Equal(b, a) = %v, want %v (Equal must be symmetric)", got, tt.want)
			}
		})
	}
}

func TestEqualDoesNotModifyItsArguments(t *testing.T) {
	a := hostnameService("10.96.0.11", "fd00:0::53", "10.96.0.10")
	a.Host.Hostname = "Web.Apps.svc.cluster.local."
	a.Host.ResolverNetwork.TunnelID = tunnelIDUpper
	b := hostnameService("10.96.0.10", "10.96.0.11", "fd00::53")

	_ = servicespec.Equal(a, b)

	want := []string{"10.96.0.11", "fd00:0::53", "10.96.0.10"}
	if !reflect.DeepEqual(a.Host.ResolverNetwork.ResolverIPs, want) {
		t.Errorf("Equal reordered or rewrote the caller's resolver IPs: %v, want %v", a.Host.ResolverNetwork.ResolverIPs, want)
	}
	if a.Host.ResolverNetwork.TunnelID != tunnelIDUpper || a.Host.Hostname != "Web.Apps.svc.cluster.local." {
		t.Errorf("Equal rewrote the caller's host: %+v", a.Host)
	}
	if a.HTTPPort != nil || a.HTTPSPort != nil || a.TLSSettings != nil {
		t.Errorf("Equal filled in defaults on the caller's service: %+v", a)
	}
}

package serviceref_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/workersvpc/connectivity-operator/api/v1alpha1"
	"github.com/workersvpc/connectivity-operator/internal/cloudflare"
	"github.com/workersvpc/connectivity-operator/internal/serviceref"
	"github.com/workersvpc/connectivity-operator/internal/servicespec"
)

const (
	tunnelID    = "0191dce4-9ab4-7fce-b660-8e5dec5172da"
	refTunnelID = "11111111-2222-3333-4444-555555555555"
	ns          = "apps"
	dnsIP       = "10.96.0.10"
	dbFQDN      = "db.apps.svc.cluster.local"
	externalDB  = "db.example.com"
)

var clusterDNS = serviceref.DNS{ClusterDomain: "cluster.local", ResolverIPs: []string{dnsIP}}

// --- builders ---

func port(name string, number int32) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Port: number, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(number)}
}

func withProto(p corev1.ServicePort, proto corev1.Protocol) corev1.ServicePort {
	p.Protocol = proto
	return p
}

func withAppProtocol(p corev1.ServicePort, ap string) corev1.ServicePort {
	p.AppProtocol = &ap
	return p
}

func withTarget(p corev1.ServicePort, target intstr.IntOrString) corev1.ServicePort {
	p.TargetPort = target
	return p
}

func clusterIPService(ips []string, ports ...corev1.ServicePort) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIPs: ips, Ports: ports},
	}
	if len(ips) > 0 {
		svc.Spec.ClusterIP = ips[0]
	}
	return svc
}

func headlessService(ports ...corev1.ServicePort) *corev1.Service {
	return clusterIPService([]string{corev1.ClusterIPNone}, ports...)
}

func externalNameService(name string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: name, Ports: ports},
	}
}

func ipv4Service(ports ...corev1.ServicePort) *corev1.Service {
	return clusterIPService([]string{"10.0.0.10"}, ports...)
}

// object is a ConnectivityService with a serviceRef and the tunnel where CEL wants it.
func object(typ v1alpha1.ServiceType, p intstr.IntOrString, address v1alpha1.ServiceAddress) *v1alpha1.ConnectivityService {
	host := v1alpha1.ServiceHost{ServiceRef: &v1alpha1.ServiceReference{Name: "db", Port: p, Address: address}}
	if address == v1alpha1.ServiceAddressClusterIP {
		host.Network = &v1alpha1.Network{TunnelID: tunnelID}
	} else {
		host.ResolverNetwork = &v1alpha1.ResolverNetwork{TunnelID: tunnelID}
	}
	return &v1alpha1.ConnectivityService{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns},
		Spec:       v1alpha1.ConnectivityServiceSpec{Type: typ, Host: host},
	}
}

func httpObj(p intstr.IntOrString) *v1alpha1.ConnectivityService {
	return object(v1alpha1.ServiceTypeHTTP, p, "")
}

func num(n int32) intstr.IntOrString    { return intstr.FromInt32(n) }
func named(s string) intstr.IntOrString { return intstr.FromString(s) }

// resolveCase is one Resolve call and what it must give: an Origin, or an error that wraps
// wantErr and contains every wantMsg.
type resolveCase struct {
	name    string
	obj     *v1alpha1.ConnectivityService
	svc     *corev1.Service
	dns     serviceref.DNS
	want    serviceref.Origin
	wantErr error
	wantMsg []string
}

var web = port("http", 80)

var addressCases = []resolveCase{
	{
		name: "hostname mode (default) sends the cluster DNS name with the cluster DNS as resolver",
		obj:  httpObj(num(80)), svc: ipv4Service(web), dns: clusterDNS,
		want: serviceref.Origin{Hostname: dbFQDN, ResolverIPs: []string{dnsIP}, HTTPPort: new(int32(80))},
	},
	{
		name: "hostname mode, explicit, custom cluster domain with dots trimmed",
		obj:  object(v1alpha1.ServiceTypeHTTP, num(80), v1alpha1.ServiceAddressHostname), svc: ipv4Service(web),
		dns:  serviceref.DNS{ClusterDomain: "corp.internal.", ResolverIPs: []string{"fd00::a", dnsIP}},
		want: serviceref.Origin{Hostname: "db.apps.svc.corp.internal", ResolverIPs: []string{"fd00::a", dnsIP}, HTTPPort: new(int32(80))},
	},
	{
		name: "hostname mode, no cluster domain and no resolvers: cluster.local, resolver left to cloudflared",
		obj:  httpObj(num(80)), svc: ipv4Service(web), dns: serviceref.DNS{},
		want: serviceref.Origin{Hostname: dbFQDN, HTTPPort: new(int32(80))},
	},
	{
		name: "hostname mode accepts a headless Service and sends its numeric targetPort",
		obj:  httpObj(num(80)), svc: headlessService(withTarget(web, num(8080))), dns: clusterDNS,
		want: serviceref.Origin{Hostname: dbFQDN, ResolverIPs: []string{dnsIP}, HTTPPort: new(int32(8080))},
	},
	{
		name: "headless Service with an unset targetPort sends its port",
		obj:  httpObj(num(80)), svc: headlessService(withTarget(web, intstr.IntOrString{})), dns: clusterDNS,
		want: serviceref.Origin{Hostname: dbFQDN, ResolverIPs: []string{dnsIP}, HTTPPort: new(int32(80))},
	},
	{
		name: "headless Service with a named targetPort cannot be resolved",
		obj:  httpObj(num(80)), svc: headlessService(withTarget(web, named("web"))), dns: clusterDNS,
		wantErr: serviceref.ErrPortNotFound, wantMsg: []string{"apps/db", "headless", `"web"`, "targetPort"},
	},
	{
		name: "ClusterIP mode, single-stack IPv4",
		obj:  object(v1alpha1.ServiceTypeHTTP, num(80), v1alpha1.ServiceAddressClusterIP),
		svc:  ipv4Service(web), dns: clusterDNS,
		want: serviceref.Origin{IPv4: "10.0.0.10", HTTPPort: new(int32(80))},
	},
	{
		name: "ClusterIP mode, single-stack IPv6 in canonical form",
		obj:  object(v1alpha1.ServiceTypeHTTP, num(80), v1alpha1.ServiceAddressClusterIP),
		svc:  clusterIPService([]string{"FD00:0::10"}, web), dns: clusterDNS,
		want: serviceref.Origin{IPv6: "fd00::10", HTTPPort: new(int32(80))},
	},
	{
		name: "ClusterIP mode, dual stack with IPv6 primary gives both",
		obj:  object(v1alpha1.ServiceTypeHTTP, num(80), v1alpha1.ServiceAddressClusterIP),
		svc:  clusterIPService([]string{"fd00::10", "10.0.0.10"}, web), dns: clusterDNS,
		want: serviceref.Origin{IPv4: "10.0.0.10", IPv6: "fd00::10", HTTPPort: new(int32(80))},
	},
	{
		name: "ClusterIP mode falls back to spec.clusterIP when clusterIPs is empty",
		obj:  object(v1alpha1.ServiceTypeHTTP, num(80), v1alpha1.ServiceAddressClusterIP),
		svc: func() *corev1.Service {
			s := ipv4Service(web)
			s.Spec.ClusterIPs = nil
			return s
		}(),
		want: serviceref.Origin{IPv4: "10.0.0.10", HTTPPort: new(int32(80))},
	},
	{
		name: "ClusterIP mode on a headless Service is ErrNoAddress pointing at address: Hostname",
		obj:  object(v1alpha1.ServiceTypeHTTP, num(80), v1alpha1.ServiceAddressClusterIP),
		svc:  headlessService(web), dns: clusterDNS,
		wantErr: serviceref.ErrNoAddress, wantMsg: []string{"apps/db", "headless", "address: Hostname"},
	},
	{
		name: "ClusterIP mode before the IP is allocated is ErrNoAddress",
		obj:  object(v1alpha1.ServiceTypeHTTP, num(80), v1alpha1.ServiceAddressClusterIP),
		svc:  clusterIPService(nil, web), dns: clusterDNS,
		wantErr: serviceref.ErrNoAddress, wantMsg: []string{"apps/db", "no cluster IP yet"},
	},
	{
		name: "ExternalName in hostname mode sends the external name, no cluster resolvers, port as-is",
		obj:  httpObj(num(8080)), svc: externalNameService(externalDB + "."), dns: clusterDNS,
		want: serviceref.Origin{Hostname: externalDB, HTTPPort: new(int32(8080))},
	},
	{
		name: "ExternalName in ClusterIP mode still sends the external name",
		obj:  object(v1alpha1.ServiceTypeTCP, num(5432), v1alpha1.ServiceAddressClusterIP),
		svc:  externalNameService(externalDB), dns: clusterDNS,
		want: serviceref.Origin{Hostname: externalDB, TCPPort: new(int32(5432))},
	},
	{
		name: "ExternalName port 443 is https",
		obj:  httpObj(num(443)), svc: externalNameService(externalDB), dns: clusterDNS,
		want: serviceref.Origin{Hostname: externalDB, HTTPSPort: new(int32(443))},
	},
	{
		name: "ExternalName with ports matches them by name",
		obj:  httpObj(named("https")), svc: externalNameService(externalDB, port("https", 8443)), dns: clusterDNS,
		want: serviceref.Origin{Hostname: externalDB, HTTPSPort: new(int32(8443))},
	},
	{
		name: "ExternalName without ports cannot take a named port",
		obj:  httpObj(named("http")), svc: externalNameService(externalDB), dns: clusterDNS,
		wantErr: serviceref.ErrPortNotFound, wantMsg: []string{"apps/db", "ExternalName", `"http"`, "port number"},
	},
	{
		name: "ExternalName without an external name is ErrNoAddress",
		obj:  httpObj(num(80)), svc: externalNameService(""), dns: clusterDNS,
		wantErr: serviceref.ErrNoAddress, wantMsg: []string{"apps/db", "externalName"},
	},
}

var portCases = []resolveCase{
	{
		name: "numbered port matches ServicePort.port, not targetPort",
		obj:  httpObj(num(80)), svc: ipv4Service(withTarget(port("web", 80), num(8080))),
		want: serviceref.Origin{Hostname: dbFQDN, HTTPPort: new(int32(80))},
	},
	{
		name: "named port",
		obj:  httpObj(named("web")), svc: ipv4Service(port("metrics", 9090), port("web", 8080)),
		want: serviceref.Origin{Hostname: dbFQDN, HTTPPort: new(int32(8080))},
	},
	{
		name: "a string of digits is a port number",
		obj:  httpObj(named("8080")), svc: ipv4Service(port("web", 8080)),
		want: serviceref.Origin{Hostname: dbFQDN, HTTPPort: new(int32(8080))},
	},
	{
		name: "https by name",
		obj:  httpObj(num(8443)), svc: ipv4Service(port("https", 8443)),
		want: serviceref.Origin{Hostname: dbFQDN, HTTPSPort: new(int32(8443))},
	},
	{
		name: "https by number 443",
		obj:  httpObj(named("tls")), svc: ipv4Service(port("tls", 443)),
		want: serviceref.Origin{Hostname: dbFQDN, HTTPSPort: new(int32(443))},
	},
	{
		name: "https by appProtocol",
		obj:  httpObj(num(9443)), svc: ipv4Service(withAppProtocol(port("api", 9443), "HTTPS")),
		want: serviceref.Origin{Hostname: dbFQDN, HTTPSPort: new(int32(9443))},
	},
	{
		name: "other appProtocol stays http",
		obj:  httpObj(num(8080)), svc: ipv4Service(withAppProtocol(port("api", 8080), "http")),
		want: serviceref.Origin{Hostname: dbFQDN, HTTPPort: new(int32(8080))},
	},
	{
		name: "tcp sends tcpPort, even for 443",
		obj:  object(v1alpha1.ServiceTypeTCP, num(443), ""), svc: ipv4Service(port("https", 443)),
		want: serviceref.Origin{Hostname: dbFQDN, TCPPort: new(int32(443))},
	},
	{
		name: "the TCP port wins over a UDP port with the same number",
		obj:  object(v1alpha1.ServiceTypeTCP, num(53), ""),
		svc:  ipv4Service(withProto(port("dns", 53), corev1.ProtocolUDP), port("dns-tcp", 53)),
		want: serviceref.Origin{Hostname: dbFQDN, TCPPort: new(int32(53))},
	},
	{
		name: "numbered port not found lists the Service's ports",
		obj:  httpObj(num(8080)), svc: ipv4Service(port("http", 80), withProto(port("", 53), "")),
		wantErr: serviceref.ErrPortNotFound,
		wantMsg: []string{"apps/db", "no port 8080", `80/TCP "http", 53/TCP`},
	},
	{
		name: "named port not found lists the Service's ports",
		obj:  httpObj(named("metrics")), svc: ipv4Service(port("http", 80), port("https", 443)),
		wantErr: serviceref.ErrPortNotFound,
		wantMsg: []string{"apps/db", `no port "metrics"`, `80/TCP "http", 443/TCP "https"`},
	},
	{
		name: "a Service without ports says so",
		obj:  httpObj(num(80)), svc: ipv4Service(),
		wantErr: serviceref.ErrPortNotFound, wantMsg: []string{"its ports are none"},
	},
	{
		name:    "a UDP-only port is not found, and the message says why",
		obj:     object(v1alpha1.ServiceTypeTCP, named("dns"), ""),
		svc:     ipv4Service(withProto(port("dns", 53), corev1.ProtocolUDP)),
		wantErr: serviceref.ErrPortNotFound, wantMsg: []string{`"dns" only as UDP`, `53/UDP "dns"`},
	},
}

func TestResolveAddress(t *testing.T) { runResolve(t, addressCases) }

func TestResolvePort(t *testing.T) { runResolve(t, portCases) }

func runResolve(t *testing.T, tests []resolveCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := serviceref.Resolve(tt.obj, tt.svc, tt.dns)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Resolve() error = %v, want %v", err, tt.wantErr)
				}
				for _, m := range tt.wantMsg {
					if !strings.Contains(err.Error(), m) {
						t.Errorf("Resolve() error %q does not contain %q", err, m)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve() error = %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Resolve() = %s, want %s", show(got), show(tt.want))
			}
		})
	}
}

func TestResolveMissing(t *testing.T) {
	_, err := serviceref.Resolve(httpObj(num(80)), nil, clusterDNS)
	if !errors.Is(err, serviceref.ErrServiceNotFound) {
		t.Fatalf("Resolve(nil Service) error = %v, want ErrServiceNotFound", err)
	}
	if !strings.Contains(err.Error(), "apps/db") {
		t.Errorf("error %q does not name the Service", err)
	}

	obj := httpObj(num(80))
	obj.Spec.Host.ServiceRef = nil
	_, err = serviceref.Resolve(obj, ipv4Service(port("http", 80)), clusterDNS)
	if err == nil || errors.Is(err, serviceref.ErrServiceNotFound) {
		t.Errorf("Resolve(no serviceRef) error = %v, want a plain error", err)
	}
	if _, err := serviceref.Resolve(nil, nil, clusterDNS); err == nil {
		t.Error("Resolve(nil object) error = nil")
	}
}

func TestResolveDoesNotAlias(t *testing.T) {
	dns := serviceref.DNS{ResolverIPs: []string{dnsIP}}
	got, err := serviceref.Resolve(httpObj(num(80)), ipv4Service(port("http", 80)), dns)
	if err != nil {
		t.Fatal(err)
	}
	dns.ResolverIPs[0] = "192.0.2.1"
	if got.ResolverIPs[0] != dnsIP {
		t.Errorf("Origin.ResolverIPs shares DNS.ResolverIPs' array")
	}
}

func resolverHost(ips ...string) v1alpha1.ServiceHost {
	return v1alpha1.ServiceHost{
		ServiceRef:      &v1alpha1.ServiceReference{Name: "db", Port: num(80)},
		ResolverNetwork: &v1alpha1.ResolverNetwork{TunnelID: tunnelID, ResolverIPs: ips},
	}
}

var networkHost = v1alpha1.ServiceHost{
	ServiceRef: &v1alpha1.ServiceReference{Name: "db", Port: num(80), Address: v1alpha1.ServiceAddressClusterIP},
	Network:    &v1alpha1.Network{TunnelID: tunnelID},
}

// applyCases build a body from spec (with ids) and Apply origin to it.
var applyCases = []struct {
	name   string
	spec   v1alpha1.ConnectivityServiceSpec
	ids    servicespec.TunnelIDs
	origin serviceref.Origin
	want   cloudflare.Service
}{
	{
		name:   "hostname origin takes the origin's resolver IPs",
		spec:   v1alpha1.ConnectivityServiceSpec{Type: v1alpha1.ServiceTypeHTTP, Host: resolverHost()},
		origin: serviceref.Origin{Hostname: dbFQDN, ResolverIPs: []string{dnsIP}, HTTPPort: new(int32(80))},
		want: cloudflare.Service{Name: "db", Type: "http", HTTPPort: new(int32(80)), Host: cloudflare.Host{
			Hostname: dbFQDN, ResolverNetwork: &cloudflare.ResolverNetwork{TunnelID: tunnelID, ResolverIPs: []string{dnsIP}},
		}},
	},
	{
		name:   "spec resolverIPs win",
		spec:   v1alpha1.ConnectivityServiceSpec{Type: v1alpha1.ServiceTypeHTTP, Host: resolverHost("1.1.1.1")},
		origin: serviceref.Origin{Hostname: dbFQDN, ResolverIPs: []string{dnsIP}, HTTPPort: new(int32(80))},
		want: cloudflare.Service{Name: "db", Type: "http", HTTPPort: new(int32(80)), Host: cloudflare.Host{
			Hostname: dbFQDN, ResolverNetwork: &cloudflare.ResolverNetwork{TunnelID: tunnelID, ResolverIPs: []string{"1.1.1.1"}},
		}},
	},
	{
		name: "hostname origin keeps a tunnelRef's resolved id",
		spec: v1alpha1.ConnectivityServiceSpec{Type: v1alpha1.ServiceTypeHTTP, Host: v1alpha1.ServiceHost{
			ServiceRef:      &v1alpha1.ServiceReference{Name: "db", Port: num(80)},
			ResolverNetwork: &v1alpha1.ResolverNetwork{TunnelRef: &v1alpha1.TunnelReference{Name: "edge"}},
		}},
		ids:    servicespec.TunnelIDs{Resolver: refTunnelID},
		origin: serviceref.Origin{Hostname: dbFQDN, HTTPPort: new(int32(80))},
		want: cloudflare.Service{Name: "db", Type: "http", HTTPPort: new(int32(80)), Host: cloudflare.Host{
			Hostname: dbFQDN, ResolverNetwork: &cloudflare.ResolverNetwork{TunnelID: refTunnelID},
		}},
	},
	{
		name:   "dual-stack IP origin keeps network",
		spec:   v1alpha1.ConnectivityServiceSpec{Type: v1alpha1.ServiceTypeHTTP, Host: networkHost},
		origin: serviceref.Origin{IPv4: "10.0.0.10", IPv6: "fd00::10", HTTPSPort: new(int32(443))},
		want: cloudflare.Service{Name: "db", Type: "http", HTTPSPort: new(int32(443)), Host: cloudflare.Host{
			IPv4: "10.0.0.10", IPv6: "fd00::10", Network: &cloudflare.Network{TunnelID: tunnelID},
		}},
	},
	{
		name:   "ExternalName in ClusterIP mode moves the tunnel to resolver_network, without resolvers",
		spec:   v1alpha1.ConnectivityServiceSpec{Type: v1alpha1.ServiceTypeTCP, Host: networkHost},
		origin: serviceref.Origin{Hostname: externalDB, TCPPort: new(int32(5432))},
		want: cloudflare.Service{Name: "db", Type: "tcp", TCPPort: new(int32(5432)), Host: cloudflare.Host{
			Hostname: externalDB, ResolverNetwork: &cloudflare.ResolverNetwork{TunnelID: tunnelID},
		}},
	},
	{
		name: "spec ports win field by field",
		spec: v1alpha1.ConnectivityServiceSpec{
			Type: v1alpha1.ServiceTypeHTTP, Host: resolverHost(), HTTPPort: new(int32(8080)),
		},
		origin: serviceref.Origin{Hostname: dbFQDN, HTTPPort: new(int32(80))},
		want: cloudflare.Service{Name: "db", Type: "http", HTTPPort: new(int32(8080)), Host: cloudflare.Host{
			Hostname: dbFQDN, ResolverNetwork: &cloudflare.ResolverNetwork{TunnelID: tunnelID},
		}},
	},
	{
		name: "spec httpPort and Service httpsPort both go",
		spec: v1alpha1.ConnectivityServiceSpec{
			Type: v1alpha1.ServiceTypeHTTP, Host: resolverHost(), HTTPPort: new(int32(8080)),
		},
		origin: serviceref.Origin{Hostname: dbFQDN, HTTPSPort: new(int32(443))},
		want: cloudflare.Service{Name: "db", Type: "http", HTTPPort: new(int32(8080)), HTTPSPort: new(int32(443)),
			Host: cloudflare.Host{Hostname: dbFQDN, ResolverNetwork: &cloudflare.ResolverNetwork{TunnelID: tunnelID}}},
	},
	{
		name: "spec tcpPort wins",
		spec: v1alpha1.ConnectivityServiceSpec{
			Type: v1alpha1.ServiceTypeTCP, Host: resolverHost(), TCPPort: new(int32(6543)),
		},
		origin: serviceref.Origin{Hostname: dbFQDN, TCPPort: new(int32(5432))},
		want: cloudflare.Service{Name: "db", Type: "tcp", TCPPort: new(int32(6543)), Host: cloudflare.Host{
			Hostname: dbFQDN, ResolverNetwork: &cloudflare.ResolverNetwork{TunnelID: tunnelID},
		}},
	},
}

func TestApply(t *testing.T) {
	for _, tt := range applyCases {
		t.Run(tt.name, func(t *testing.T) {
			obj := &v1alpha1.ConnectivityService{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns}, Spec: tt.spec}
			body := servicespec.BuildWith(obj, tt.ids)
			serviceref.Apply(&body, tt.origin, tt.spec)
			if !reflect.DeepEqual(body, tt.want) {
				t.Errorf("Apply() = %s, want %s", show(body), show(tt.want))
			}
		})
	}
}

func TestApplyDoesNotAlias(t *testing.T) {
	obj := httpObj(num(80))
	origin := serviceref.Origin{Hostname: dbFQDN, ResolverIPs: []string{dnsIP}, HTTPPort: new(int32(80))}
	body := servicespec.BuildWith(obj, servicespec.TunnelIDs{})
	serviceref.Apply(&body, origin, obj.Spec)
	origin.ResolverIPs[0] = "192.0.2.1"
	*origin.HTTPPort = 1
	if body.Host.ResolverNetwork.ResolverIPs[0] != dnsIP || *body.HTTPPort != 80 {
		t.Errorf("Apply() body shares the Origin's memory: %s", show(body))
	}
	serviceref.Apply(nil, origin, obj.Spec) // must not panic
}

// TestApplyGivesValidBody checks that Resolve + BuildWith + Apply always gives a body of a shape
// Cloudflare accepts and servicespec can normalise and compare, also after a JSON round trip.
func TestApplyGivesValidBody(t *testing.T) {
	tests := []struct {
		name string
		obj  *v1alpha1.ConnectivityService
		svc  *corev1.Service
	}{
		{name: "hostname", obj: httpObj(num(443)), svc: ipv4Service(port("https", 443))},
		{name: "headless hostname", obj: httpObj(num(80)), svc: headlessService(port("http", 80))},
		{name: "ClusterIP dual stack", obj: object(v1alpha1.ServiceTypeTCP, num(5432), v1alpha1.ServiceAddressClusterIP),
			svc: clusterIPService([]string{"10.0.0.10", "fd00::10"}, port("pg", 5432))},
		{name: "ExternalName ClusterIP", obj: object(v1alpha1.ServiceTypeHTTP, num(80), v1alpha1.ServiceAddressClusterIP),
			svc: externalNameService(externalDB)},
		{name: "ExternalName hostname", obj: httpObj(num(80)), svc: externalNameService(externalDB)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			origin, err := serviceref.Resolve(tt.obj, tt.svc, clusterDNS)
			if err != nil {
				t.Fatal(err)
			}
			body := servicespec.BuildWith(tt.obj, servicespec.TunnelIDs{})
			serviceref.Apply(&body, origin, tt.obj.Spec)
			checkShape(t, body)
			if !servicespec.Equal(body, body) {
				t.Errorf("Equal(body, body) = false for %s", show(body))
			}
			raw, err := json.Marshal(body)
			if err != nil {
				t.Fatal(err)
			}
			var back cloudflare.Service
			if err := json.Unmarshal(raw, &back); err != nil {
				t.Fatal(err)
			}
			if !servicespec.Equal(body, back) {
				t.Errorf("body changes in a JSON round trip: %s", raw)
			}
		})
	}
}

func checkShape(t *testing.T, body cloudflare.Service) {
	t.Helper()
	h := body.Host
	ip := h.IPv4 != "" || h.IPv6 != ""
	switch {
	case ip == (h.Hostname != ""):
		t.Errorf("host needs IPs or a hostname, not both or neither: %s", show(h))
	case (h.Network != nil) == (h.ResolverNetwork != nil):
		t.Errorf("host needs exactly one of network and resolver_network: %s", show(h))
	case ip && h.Network == nil, !ip && h.ResolverNetwork == nil:
		t.Errorf("host has the wrong tunnel shape for its origin: %s", show(h))
	case h.Network != nil && h.Network.TunnelID != tunnelID, h.ResolverNetwork != nil && h.ResolverNetwork.TunnelID != tunnelID:
		t.Errorf("host lost its tunnel id: %s", show(h))
	}
	ports := body.HTTPPort != nil || body.HTTPSPort != nil
	if (body.Type == "tcp") != (body.TCPPort != nil) || (body.Type == "tcp" && ports) {
		t.Errorf("ports do not fit type %s: %s", body.Type, show(body))
	}
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

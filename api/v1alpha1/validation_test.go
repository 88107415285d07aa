/*
Copyright 2026.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package v1alpha1_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/workersvpc/connectivity-operator/api/v1alpha1"
)

const (
	tunnelID  = "0191dce4-9ab4-7fce-b660-8e5dec5172da"
	accountID = "023e105f4ecef8ad9ca31a8372d0c353"
)

// validService is the base every ConnectivityService case starts from: an http service on an
// IPv4 origin, which the API server must accept as it is.
func validService(ns string) *v1alpha1.ConnectivityService {
	return &v1alpha1.ConnectivityService{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "ConnectivityService"},
		ObjectMeta: metav1.ObjectMeta{GenerateName: "svc-", Namespace: ns},
		Spec: v1alpha1.ConnectivityServiceSpec{
			Type:     v1alpha1.ServiceTypeHTTP,
			Host:     v1alpha1.ServiceHost{IPv4: "10.0.0.5", Network: &v1alpha1.Network{TunnelID: tunnelID}},
			HTTPPort: ptr.To[int32](8080),
		},
	}
}

// edit changes a valid ConnectivityService, in the unstructured form that is sent to the API
// server. Most edits are typed (set); unset and setField reach what the Go type cannot express,
// such as a missing required field or an empty string behind omitempty.
type edit func(u *unstructured.Unstructured)

// set applies a typed change.
func set(mutate func(obj *v1alpha1.ConnectivityService)) edit {
	return func(u *unstructured.Unstructured) {
		obj := &v1alpha1.ConnectivityService{}
		roundTrip(u.Object, obj)
		mutate(obj)
		u.Object = map[string]any{}
		roundTrip(obj, &u.Object)
	}
}

// unset removes the field at path, as a manifest that leaves it out would.
func unset(path ...string) edit {
	return func(u *unstructured.Unstructured) { unstructured.RemoveNestedField(u.Object, path...) }
}

// setField writes a raw value at path.
func setField(value any, path ...string) edit {
	return func(u *unstructured.Unstructured) {
		Expect(unstructured.SetNestedField(u.Object, value, path...)).To(Succeed())
	}
}

// chain applies edits in order, as one edit.
func chain(edits ...edit) edit {
	return func(u *unstructured.Unstructured) {
		for _, e := range edits {
			e(u)
		}
	}
}

// serviceRefHost is an origin given as a Kubernetes Service, its tunnel in resolverNetwork as the
// default address (Hostname) wants; the http service has no port of its own, so the Service's
// port applies.
func serviceRefHost(s *v1alpha1.ConnectivityService, ref v1alpha1.ServiceReference) {
	s.Spec.Host = v1alpha1.ServiceHost{ServiceRef: &ref, ResolverNetwork: &v1alpha1.ResolverNetwork{TunnelID: tunnelID}}
	s.Spec.HTTPPort = nil
}

// withServiceDefaults is what the API server is expected to store for spec: the defaults filled in.
func withServiceDefaults(spec v1alpha1.ConnectivityServiceSpec) v1alpha1.ConnectivityServiceSpec {
	spec = *spec.DeepCopy()
	if spec.DeletionPolicy == "" {
		spec.DeletionPolicy = v1alpha1.DeletionPolicyDelete
	}
	if spec.ManagementPolicy == "" {
		spec.ManagementPolicy = v1alpha1.ManagementPolicyManage
	}
	if spec.AccountRef != nil && spec.AccountRef.Kind == "" {
		spec.AccountRef.Kind = v1alpha1.AccountKindCluster
	}
	if spec.Host.ServiceRef != nil && spec.Host.ServiceRef.Address == "" {
		spec.Host.ServiceRef.Address = v1alpha1.ServiceAddressHostname
	}
	return spec
}

// roundTrip copies in to out through JSON, the way a client serialises an object.
func roundTrip(in, out any) {
	data, err := json.Marshal(in)
	Expect(err).NotTo(HaveOccurred())
	Expect(json.Unmarshal(data, out)).To(Succeed())
}

// serviceManifest is validService with edits applied.
func serviceManifest(ns string, edits ...edit) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	roundTrip(validService(ns), &u.Object)
	for _, e := range edits {
		e(u)
	}
	return u
}

// expectInvalid asserts that err is the API server's 422 Invalid and that it carries message.
func expectInvalid(err error, message string) {
	GinkgoHelper()
	Expect(err).To(HaveOccurred(), "the API server accepted the object")
	Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want an Invalid error, got: %v", err)
	Expect(err.Error()).To(ContainSubstring(message))
}

// The messages of the ConnectivityService rules that several cases share.
const (
	serviceRefExcludes = "serviceRef takes the place of ipv4, ipv6 and hostname: set one or the other"
	serviceRefByName   = "with serviceRef address: Hostname (the default), put the tunnel in resolverNetwork, not network"
	serviceRefByIP     = "with serviceRef address: ClusterIP, put the tunnel in network, not resolverNetwork"
	serviceRefName     = "serviceRef.name must be a Service name: lowercase letters, digits and '-', " +
		"starting with a letter and ending with a letter or digit"
	serviceRefPort = "port must be a number from 1 to 65535, or the name of one of the Service's ports"
	exportBinding  = "binding must be a JavaScript identifier such as API or ORDERS_DB: " +
		"letters, digits, '_' and '$', not starting with a digit"
	exportConfigMapName = "configMapName must be a Kubernetes object name: " +
		"lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
)

var _ = Describe("ConnectivityService validation", func() {
	var ns string

	BeforeEach(func(ctx SpecContext) {
		ns = newNamespace(ctx)
	})

	It("accepts the base object every case starts from", func(ctx SpecContext) {
		Expect(k8sClient.Create(ctx, serviceManifest(ns))).To(Succeed())
	})

	DescribeTable("rejects an invalid manifest at create",
		func(ctx SpecContext, e edit, message string) {
			expectInvalid(k8sClient.Create(ctx, serviceManifest(ns, e)), message)
		},

		// host shape
		Entry("empty host", setField(map[string]any{}, "spec", "host"),
			"spec.host in body should have at least 1 properties"),
		Entry("no host address", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Host = v1alpha1.ServiceHost{Network: &v1alpha1.Network{TunnelID: tunnelID}}
		}), "host needs an address: set ipv4, ipv6, both, hostname, or serviceRef"),
		Entry("ipv4 and hostname together", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Host.Hostname = "db.apps.svc.cluster.local"
		}), "host takes either IP addresses or a hostname, not both"),
		Entry("ipv6 and hostname together", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Host = v1alpha1.ServiceHost{
				IPv6: "fd00::5", Hostname: "db.apps.svc.cluster.local",
				ResolverNetwork: &v1alpha1.ResolverNetwork{TunnelID: tunnelID},
			}
		}), "host takes either IP addresses or a hostname, not both"),
		Entry("IP host without network", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Host.Network = nil
		}), "an IP host (ipv4, ipv6) needs network.tunnelID or network.tunnelRef"),
		Entry("IP host with resolverNetwork", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Host.ResolverNetwork = &v1alpha1.ResolverNetwork{TunnelID: tunnelID}
		}), "resolverNetwork is only for hostname hosts (hostname, or serviceRef with address: Hostname); an IP host uses network"),
		Entry("hostname without resolverNetwork", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Host = v1alpha1.ServiceHost{Hostname: "db.apps.svc.cluster.local"}
		}), "a hostname host needs resolverNetwork.tunnelID or resolverNetwork.tunnelRef"),
		Entry("hostname with network", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Host = v1alpha1.ServiceHost{
				Hostname:        "db.apps.svc.cluster.local",
				Network:         &v1alpha1.Network{TunnelID: tunnelID},
				ResolverNetwork: &v1alpha1.ResolverNetwork{TunnelID: tunnelID},
			}
		}), "network is only for IP hosts (ipv4, ipv6, or serviceRef with address: ClusterIP); a hostname host uses resolverNetwork"),
		Entry("missing host", unset("spec", "host"), "spec.host: Required value"),

		// serviceRef: in place of an address, with its tunnel where its address mode wants it
		Entry("serviceRef with ipv4", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Host.ServiceRef = &v1alpha1.ServiceReference{
				Name: "web", Port: intstr.FromInt32(80), Address: v1alpha1.ServiceAddressClusterIP,
			}
		}), serviceRefExcludes),
		Entry("serviceRef with ipv6", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Host = v1alpha1.ServiceHost{
				ServiceRef: &v1alpha1.ServiceReference{
					Name: "web", Port: intstr.FromInt32(80), Address: v1alpha1.ServiceAddressClusterIP,
				},
				IPv6:    "fd00::5",
				Network: &v1alpha1.Network{TunnelID: tunnelID},
			}
		}), serviceRefExcludes),
		Entry("serviceRef with hostname", set(func(s *v1alpha1.ConnectivityService) {
			serviceRefHost(s, v1alpha1.ServiceReference{Name: "web", Port: intstr.FromInt32(80)})
			s.Spec.Host.Hostname = "web.apps.svc.cluster.local"
		}), serviceRefExcludes),
		Entry("serviceRef, address defaulted to Hostname, with network", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Host = v1alpha1.ServiceHost{
				ServiceRef: &v1alpha1.ServiceReference{Name: "web", Port: intstr.FromInt32(80)},
				Network:    &v1alpha1.Network{TunnelID: tunnelID},
			}
		}), serviceRefByName),
		Entry("serviceRef, address Hostname, with network", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Host = v1alpha1.ServiceHost{
				ServiceRef: &v1alpha1.ServiceReference{Name: "web", Port: intstr.FromInt32(80), Address: v1alpha1.ServiceAddressHostname},
				Network:    &v1alpha1.Network{TunnelID: tunnelID},
			}
		}), serviceRefByName),
		Entry("serviceRef, address ClusterIP, with resolverNetwork", set(func(s *v1alpha1.ConnectivityService) {
			serviceRefHost(s, v1alpha1.ServiceReference{Name: "web", Port: intstr.FromInt32(80), Address: v1alpha1.ServiceAddressClusterIP})
		}), serviceRefByIP),
		Entry("serviceRef with neither network nor resolverNetwork", set(func(s *v1alpha1.ConnectivityService) {
			serviceRefHost(s, v1alpha1.ServiceReference{Name: "web", Port: intstr.FromInt32(80)})
			s.Spec.Host.ResolverNetwork = nil
		}), serviceRefByName),
		Entry("serviceRef, address ClusterIP, with neither network nor resolverNetwork", set(func(s *v1alpha1.ConnectivityService) {
			serviceRefHost(s, v1alpha1.ServiceReference{Name: "web", Port: intstr.FromInt32(80), Address: v1alpha1.ServiceAddressClusterIP})
			s.Spec.Host.ResolverNetwork = nil
		}), serviceRefByIP),
		Entry("serviceRef with both network and resolverNetwork", set(func(s *v1alpha1.ConnectivityService) {
			serviceRefHost(s, v1alpha1.ServiceReference{Name: "web", Port: intstr.FromInt32(80)})
			s.Spec.Host.Network = &v1alpha1.Network{TunnelID: tunnelID}
		}), serviceRefByName),
		Entry("serviceRef.port 0", set(func(s *v1alpha1.ConnectivityService) {
			serviceRefHost(s, v1alpha1.ServiceReference{Name: "web", Port: intstr.FromInt32(0)})
		}), serviceRefPort),
		Entry("serviceRef.port 70000", set(func(s *v1alpha1.ConnectivityService) {
			serviceRefHost(s, v1alpha1.ServiceReference{Name: "web", Port: intstr.FromInt32(70000)})
		}), serviceRefPort),
		Entry("serviceRef.port an empty name", set(func(s *v1alpha1.ConnectivityService) {
			serviceRefHost(s, v1alpha1.ServiceReference{Name: "web", Port: intstr.FromString("")})
		}), serviceRefPort),
		Entry("serviceRef.port a name with spaces", set(func(s *v1alpha1.ConnectivityService) {
			serviceRefHost(s, v1alpha1.ServiceReference{Name: "web", Port: intstr.FromString("Not A Name")})
		}), serviceRefPort),
		Entry("serviceRef.port a name longer than 15", set(func(s *v1alpha1.ConnectivityService) {
			serviceRefHost(s, v1alpha1.ServiceReference{Name: "web", Port: intstr.FromString("a-very-long-port-name")})
		}), serviceRefPort),
		Entry("serviceRef.name starting with a digit", set(func(s *v1alpha1.ConnectivityService) {
			serviceRefHost(s, v1alpha1.ServiceReference{Name: "1web", Port: intstr.FromInt32(80)})
		}), serviceRefName),
		Entry("serviceRef.name with an upper-case letter", set(func(s *v1alpha1.ConnectivityService) {
			serviceRefHost(s, v1alpha1.ServiceReference{Name: "Web", Port: intstr.FromInt32(80)})
		}), serviceRefName),
		Entry("serviceRef.name with a dot", set(func(s *v1alpha1.ConnectivityService) {
			serviceRefHost(s, v1alpha1.ServiceReference{Name: "web.apps", Port: intstr.FromInt32(80)})
		}), serviceRefName),
		Entry("serviceRef.name ending with a hyphen", set(func(s *v1alpha1.ConnectivityService) {
			serviceRefHost(s, v1alpha1.ServiceReference{Name: "web-", Port: intstr.FromInt32(80)})
		}), serviceRefName),
		Entry("serviceRef.name longer than 63 characters", set(func(s *v1alpha1.ConnectivityService) {
			serviceRefHost(s, v1alpha1.ServiceReference{Name: strings.Repeat("w", 64), Port: intstr.FromInt32(80)})
		}), "spec.host.serviceRef.name: Too long: may not be more than 63"),
		Entry("serviceRef.name empty", chain(
			set(func(s *v1alpha1.ConnectivityService) {
				serviceRefHost(s, v1alpha1.ServiceReference{Name: "web", Port: intstr.FromInt32(80)})
			}),
			setField("", "spec", "host", "serviceRef", "name"),
		), "spec.host.serviceRef.name in body should be at least 1 chars long"),
		Entry("serviceRef without name", chain(
			set(func(s *v1alpha1.ConnectivityService) {
				serviceRefHost(s, v1alpha1.ServiceReference{Name: "web", Port: intstr.FromInt32(80)})
			}),
			unset("spec", "host", "serviceRef", "name"),
		), "spec.host.serviceRef.name: Required value"),
		Entry("serviceRef without port", chain(
			set(func(s *v1alpha1.ConnectivityService) {
				serviceRefHost(s, v1alpha1.ServiceReference{Name: "web", Port: intstr.FromInt32(80)})
			}),
			unset("spec", "host", "serviceRef", "port"),
		), "spec.host.serviceRef.port: Required value"),
		Entry("serviceRef.address not in the enum", set(func(s *v1alpha1.ConnectivityService) {
			serviceRefHost(s, v1alpha1.ServiceReference{Name: "web", Port: intstr.FromInt32(80), Address: "NodePort"})
		}), `spec.host.serviceRef.address: Unsupported value: "NodePort": supported values: "Hostname", "ClusterIP"`),

		// addresses
		Entry("ipv4 octet out of range", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Host.IPv4 = "10.0.0.300"
		}), "ipv4 must be an IPv4 address such as 10.0.0.5"),
		Entry("ipv4 with leading zeros", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Host.IPv4 = "010.0.0.5"
		}), "ipv4 must be an IPv4 address such as 10.0.0.5"),
		Entry("an IPv6 address in ipv4", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Host.IPv4 = "fd00::5"
		}), "ipv4 must be an IPv4 address such as 10.0.0.5"),
		Entry("ipv6 not an address", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Host = v1alpha1.ServiceHost{IPv6: "fd00::zz", Network: &v1alpha1.Network{TunnelID: tunnelID}}
		}), "ipv6 must be an IPv6 address such as fd00::5"),
		Entry("an IPv4 address in ipv6", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Host = v1alpha1.ServiceHost{IPv6: "10.0.0.5", Network: &v1alpha1.Network{TunnelID: tunnelID}}
		}), "ipv6 must be an IPv6 address such as fd00::5"),
		Entry("ipv6 with a zone", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Host = v1alpha1.ServiceHost{IPv6: "fe80::1%eth0", Network: &v1alpha1.Network{TunnelID: tunnelID}}
		}), "ipv6 must be an IPv6 address such as fd00::5"),
		Entry("single-label hostname", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Host = v1alpha1.ServiceHost{Hostname: "db", ResolverNetwork: &v1alpha1.ResolverNetwork{TunnelID: tunnelID}}
		}), "hostname must be a fully qualified DNS name"),
		Entry("hostname with an underscore", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Host = v1alpha1.ServiceHost{Hostname: "db_1.apps.svc.cluster.local", ResolverNetwork: &v1alpha1.ResolverNetwork{TunnelID: tunnelID}}
		}), "hostname must be a fully qualified DNS name"),
		Entry("hostname label longer than 63 characters", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Host = v1alpha1.ServiceHost{
				Hostname:        strings.Repeat("a", 64) + ".apps.svc.cluster.local",
				ResolverNetwork: &v1alpha1.ResolverNetwork{TunnelID: tunnelID},
			}
		}), "hostname must be a fully qualified DNS name"),
		Entry("hostname label starting with a hyphen", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Host = v1alpha1.ServiceHost{Hostname: "-db.apps.svc.cluster.local", ResolverNetwork: &v1alpha1.ResolverNetwork{TunnelID: tunnelID}}
		}), "hostname must be a fully qualified DNS name"),

		// tunnels and resolvers
		Entry("network.tunnelID not a UUID", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Host.Network.TunnelID = "my-tunnel"
		}), "tunnelID must be a tunnel UUID such as 0191dce4-9ab4-7fce-b660-8e5dec5172da"),
		Entry("resolverNetwork.tunnelID not a UUID", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Host = v1alpha1.ServiceHost{
				Hostname:        "db.apps.svc.cluster.local",
				ResolverNetwork: &v1alpha1.ResolverNetwork{TunnelID: "0191dce4-9ab4-7fce-b660-8e5dec5172dz"},
			}
		}), "tunnelID must be a tunnel UUID such as 0191dce4-9ab4-7fce-b660-8e5dec5172da"),
		Entry("resolverIP not an address", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Host = v1alpha1.ServiceHost{
				Hostname:        "db.apps.svc.cluster.local",
				ResolverNetwork: &v1alpha1.ResolverNetwork{TunnelID: tunnelID, ResolverIPs: []string{"10.96.0.10", "kube-dns"}},
			}
		}), "resolverIPs must be IP addresses such as 10.96.0.10"),
		Entry("more than 8 resolverIPs", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Host = v1alpha1.ServiceHost{
				Hostname: "db.apps.svc.cluster.local",
				ResolverNetwork: &v1alpha1.ResolverNetwork{TunnelID: tunnelID, ResolverIPs: []string{
					"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6", "10.0.0.7", "10.0.0.8", "10.0.0.9",
				}},
			}
		}), "must have at most 8 items"),

		// tunnelID or tunnelRef, exactly one
		Entry("network with both tunnelID and tunnelRef", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Host.Network = &v1alpha1.Network{TunnelID: tunnelID, TunnelRef: &v1alpha1.TunnelReference{Name: "edge"}}
		}), "network takes exactly one of tunnelID (a tunnel's UUID) or tunnelRef (a CloudflareTunnel in this namespace)"),
		Entry("network with neither tunnelID nor tunnelRef", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Host.Network = &v1alpha1.Network{}
		}), "network takes exactly one of tunnelID (a tunnel's UUID) or tunnelRef (a CloudflareTunnel in this namespace)"),
		Entry("resolverNetwork with both tunnelID and tunnelRef", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Host = v1alpha1.ServiceHost{
				Hostname: "db.apps.svc.cluster.local",
				ResolverNetwork: &v1alpha1.ResolverNetwork{
					TunnelID: tunnelID, TunnelRef: &v1alpha1.TunnelReference{Name: "edge"},
				},
			}
		}), "resolverNetwork takes exactly one of tunnelID (a tunnel's UUID) or tunnelRef (a CloudflareTunnel in this namespace)"),
		Entry("resolverNetwork with only resolverIPs", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Host = v1alpha1.ServiceHost{
				Hostname:        "db.apps.svc.cluster.local",
				ResolverNetwork: &v1alpha1.ResolverNetwork{ResolverIPs: []string{"10.96.0.10"}},
			}
		}), "resolverNetwork takes exactly one of tunnelID (a tunnel's UUID) or tunnelRef (a CloudflareTunnel in this namespace)"),
		Entry("network.tunnelRef with an empty name",
			setField(map[string]any{"tunnelRef": map[string]any{"name": ""}}, "spec", "host", "network"),
			"spec.host.network.tunnelRef.name in body should be at least 1 chars long"),
		Entry("network.tunnelRef without name", setField(map[string]any{}, "spec", "host", "network", "tunnelRef"),
			"spec.host.network.tunnelRef.name: Required value"),
		Entry("network.tunnelRef.name not an object name", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Host.Network = &v1alpha1.Network{TunnelRef: &v1alpha1.TunnelReference{Name: "Edge Tunnel"}}
		}), "tunnelRef.name must be a Kubernetes object name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"),
		Entry("network.tunnelRef.name longer than 253 characters", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Host.Network = &v1alpha1.Network{TunnelRef: &v1alpha1.TunnelReference{Name: strings.Repeat("a", 254)}}
		}), "spec.host.network.tunnelRef.name: Too long: may not be more than 253"),
		Entry("resolverNetwork.tunnelRef with an empty name", chain(
			set(func(s *v1alpha1.ConnectivityService) {
				s.Spec.Host = v1alpha1.ServiceHost{
					Hostname:        "db.apps.svc.cluster.local",
					ResolverNetwork: &v1alpha1.ResolverNetwork{TunnelRef: &v1alpha1.TunnelReference{Name: "edge"}},
				}
			}),
			setField("", "spec", "host", "resolverNetwork", "tunnelRef", "name"),
		), "spec.host.resolverNetwork.tunnelRef.name in body should be at least 1 chars long"),
		Entry("resolverNetwork.tunnelRef.name not an object name", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Host = v1alpha1.ServiceHost{
				Hostname:        "db.apps.svc.cluster.local",
				ResolverNetwork: &v1alpha1.ResolverNetwork{TunnelRef: &v1alpha1.TunnelReference{Name: "-edge"}},
			}
		}), "tunnelRef.name must be a Kubernetes object name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"),

		// ports
		Entry("httpPort 0", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.HTTPPort = ptr.To[int32](0)
		}), "spec.httpPort in body should be greater than or equal to 1"),
		Entry("httpPort 65536", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.HTTPPort = ptr.To[int32](65536)
		}), "spec.httpPort in body should be less than or equal to 65535"),
		Entry("httpsPort 0", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.HTTPSPort = ptr.To[int32](0)
		}), "spec.httpsPort in body should be greater than or equal to 1"),
		Entry("httpsPort 65536", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.HTTPSPort = ptr.To[int32](65536)
		}), "spec.httpsPort in body should be less than or equal to 65535"),
		Entry("tcpPort 0", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Type, s.Spec.HTTPPort, s.Spec.TCPPort = v1alpha1.ServiceTypeTCP, nil, ptr.To[int32](0)
		}), "spec.tcpPort in body should be greater than or equal to 1"),
		Entry("tcpPort 65536", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Type, s.Spec.HTTPPort, s.Spec.TCPPort = v1alpha1.ServiceTypeTCP, nil, ptr.To[int32](65536)
		}), "spec.tcpPort in body should be less than or equal to 65535"),
		Entry("httpPort on a tcp service", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Type, s.Spec.TCPPort = v1alpha1.ServiceTypeTCP, ptr.To[int32](5432)
		}), "httpPort and httpsPort apply only to type http; use tcpPort for type tcp"),
		Entry("httpsPort on a tcp service", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Type, s.Spec.HTTPPort, s.Spec.HTTPSPort = v1alpha1.ServiceTypeTCP, nil, ptr.To[int32](443)
		}), "httpPort and httpsPort apply only to type http; use tcpPort for type tcp"),
		Entry("tcpPort on an http service", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.TCPPort = ptr.To[int32](5432)
		}), "tcpPort and appProtocol apply only to type tcp; use httpPort or httpsPort for type http"),
		Entry("appProtocol on an http service", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.AppProtocol = "postgresql"
		}), "tcpPort and appProtocol apply only to type tcp; use httpPort or httpsPort for type http"),

		// enums
		Entry("type neither http nor tcp", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Type = "udp"
		}), `spec.type: Unsupported value: "udp": supported values: "http", "tcp"`),
		Entry("missing type", unset("spec", "type"), "spec.type: Required value"),
		Entry("appProtocol neither postgresql nor mysql", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Type, s.Spec.HTTPPort, s.Spec.AppProtocol = v1alpha1.ServiceTypeTCP, nil, "mongodb"
		}), `spec.appProtocol: Unsupported value: "mongodb": supported values: "postgresql", "mysql"`),
		Entry("certVerificationMode not in the enum", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.TLSSettings = &v1alpha1.TLSSettings{CertVerificationMode: "strict"}
		}), `spec.tlsSettings.certVerificationMode: Unsupported value: "strict"`),
		Entry("tlsSettings without certVerificationMode", setField(map[string]any{}, "spec", "tlsSettings"),
			"spec.tlsSettings.certVerificationMode: Required value"),
		Entry("deletionPolicy neither Delete nor Orphan", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.DeletionPolicy = "Retain"
		}), `spec.deletionPolicy: Unsupported value: "Retain": supported values: "Delete", "Orphan"`),
		Entry("managementPolicy neither Manage nor Observe", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.ManagementPolicy = "Ignore"
		}), `spec.managementPolicy: Unsupported value: "Ignore": supported values: "Manage", "Observe"`),
		Entry("managementPolicy in lower case", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.ManagementPolicy = "observe"
		}), `spec.managementPolicy: Unsupported value: "observe": supported values: "Manage", "Observe"`),
		Entry("suspend not a boolean", setField("true", "spec", "suspend"),
			`spec.suspend: Invalid value: "string": spec.suspend in body must be of type boolean: "string"`),

		// export
		Entry("export without binding", setField(map[string]any{"configMapName": "web-binding"}, "spec", "export"),
			"spec.export.binding: Required value"),
		Entry("export binding empty", setField(map[string]any{"binding": ""}, "spec", "export"),
			"spec.export.binding in body should be at least 1 chars long"),
		Entry("export binding starting with a digit", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Export = &v1alpha1.Export{Binding: "9lives"}
		}), exportBinding),
		Entry("export binding with a hyphen", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Export = &v1alpha1.Export{Binding: "my-binding"}
		}), exportBinding),
		Entry("export binding with a space", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Export = &v1alpha1.Export{Binding: "ORDERS DB"}
		}), exportBinding),
		Entry("export binding longer than 64 characters", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Export = &v1alpha1.Export{Binding: strings.Repeat("A", 65)}
		}), "spec.export.binding: Too long: may not be more than 64"),
		Entry("export configMapName not an object name", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Export = &v1alpha1.Export{Binding: "API", ConfigMapName: "Web Binding"}
		}), exportConfigMapName),
		Entry("export configMapName with an underscore", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Export = &v1alpha1.Export{Binding: "API", ConfigMapName: "web_binding"}
		}), exportConfigMapName),
		Entry("export configMapName ending with a hyphen", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Export = &v1alpha1.Export{Binding: "API", ConfigMapName: "web-binding-"}
		}), exportConfigMapName),
		Entry("export configMapName empty", setField(map[string]any{"binding": "API", "configMapName": ""}, "spec", "export"),
			"spec.export.configMapName in body should be at least 1 chars long"),
		Entry("export configMapName longer than 253 characters", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Export = &v1alpha1.Export{Binding: "API", ConfigMapName: strings.Repeat("a", 254)}
		}), "spec.export.configMapName: Too long: may not be more than 253"),

		// accountRef
		Entry("accountRef.kind unknown", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.AccountRef = &v1alpha1.AccountReference{Kind: "Account", Name: "prod"}
		}), `spec.accountRef.kind: Unsupported value: "Account"`),
		Entry("accountRef without name", setField(map[string]any{"kind": "CloudflareAccount"}, "spec", "accountRef"),
			"spec.accountRef.name: Required value"),
		Entry("accountRef with an empty name", setField(map[string]any{"name": ""}, "spec", "accountRef"),
			"spec.accountRef.name in body should be at least 1 chars long"),
		Entry("accountRef.name not an object name", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.AccountRef = &v1alpha1.AccountReference{Name: "Team Account"}
		}), "accountRef.name must be a Kubernetes object name"),

		// spec.name
		Entry("spec.name empty", setField("", "spec", "name"), "spec.name in body should be at least 1 chars long"),
		Entry("spec.name with a leading space", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Name = " billing-db"
		}), "name must not start or end with white space"),
		Entry("spec.name with a trailing tab", set(func(s *v1alpha1.ConnectivityService) {
			s.Spec.Name = "billing-db\t"
		}), "name must not start or end with white space"),
	)

	DescribeTable("accepts a valid manifest and applies defaults",
		func(ctx SpecContext, mutate func(s *v1alpha1.ConnectivityService)) {
			u := serviceManifest(ns, set(mutate))
			Expect(k8sClient.Create(ctx, u)).To(Succeed())

			got := &v1alpha1.ConnectivityService{}
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(u), got)).To(Succeed())
			want := validService(ns)
			mutate(want)
			// Apart from the defaults, the server stores what was sent.
			Expect(got.Spec).To(Equal(withServiceDefaults(want.Spec)))
		},
		Entry("ipv4, http with both ports", func(s *v1alpha1.ConnectivityService) {
			s.Spec.HTTPSPort = ptr.To[int32](8443)
		}),
		Entry("ipv6, http with only httpsPort", func(s *v1alpha1.ConnectivityService) {
			s.Spec.Host = v1alpha1.ServiceHost{IPv6: "fd00:10:96::5", Network: &v1alpha1.Network{TunnelID: tunnelID}}
			s.Spec.HTTPPort, s.Spec.HTTPSPort = nil, ptr.To[int32](443)
		}),
		Entry("dual stack, tcp postgresql", func(s *v1alpha1.ConnectivityService) {
			s.Spec.Host.IPv6 = "fd00::5"
			s.Spec.Type, s.Spec.HTTPPort = v1alpha1.ServiceTypeTCP, nil
			s.Spec.TCPPort, s.Spec.AppProtocol = ptr.To[int32](5432), "postgresql"
		}),
		Entry("hostname without resolverIPs, http with no ports", func(s *v1alpha1.ConnectivityService) {
			s.Spec.Host = v1alpha1.ServiceHost{
				Hostname:        "web.apps.svc.cluster.local",
				ResolverNetwork: &v1alpha1.ResolverNetwork{TunnelID: tunnelID},
			}
			s.Spec.HTTPPort = nil
		}),
		Entry("hostname with IPv4 and IPv6 resolverIPs, tcp mysql", func(s *v1alpha1.ConnectivityService) {
			s.Spec.Host = v1alpha1.ServiceHost{
				Hostname:        "mysql.db.svc.cluster.local",
				ResolverNetwork: &v1alpha1.ResolverNetwork{TunnelID: tunnelID, ResolverIPs: []string{"10.96.0.10", "fd00:10:96::a"}},
			}
			s.Spec.Type, s.Spec.HTTPPort = v1alpha1.ServiceTypeTCP, nil
			s.Spec.TCPPort, s.Spec.AppProtocol = ptr.To[int32](3306), "mysql"
		}),
		Entry("hostname with a trailing dot and 8 resolverIPs", func(s *v1alpha1.ConnectivityService) {
			s.Spec.Host = v1alpha1.ServiceHost{
				Hostname: "db.example.com.",
				ResolverNetwork: &v1alpha1.ResolverNetwork{TunnelID: tunnelID, ResolverIPs: []string{
					"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6", "10.0.0.7", "10.0.0.8",
				}},
			}
		}),
		Entry("ipv4 with network.tunnelRef", func(s *v1alpha1.ConnectivityService) {
			s.Spec.Host.Network = &v1alpha1.Network{TunnelRef: &v1alpha1.TunnelReference{Name: "edge"}}
		}),
		Entry("dual stack with a network.tunnelRef of 253 characters", func(s *v1alpha1.ConnectivityService) {
			s.Spec.Host.IPv6 = "fd00::5"
			s.Spec.Host.Network = &v1alpha1.Network{TunnelRef: &v1alpha1.TunnelReference{
				Name: strings.Repeat(strings.Repeat("a", 62)+".", 4) + "b",
			}}
		}),
		Entry("hostname with resolverNetwork.tunnelRef and resolverIPs", func(s *v1alpha1.ConnectivityService) {
			s.Spec.Host = v1alpha1.ServiceHost{
				Hostname: "web.apps.svc.cluster.local",
				ResolverNetwork: &v1alpha1.ResolverNetwork{
					TunnelRef: &v1alpha1.TunnelReference{Name: "edge.prod"}, ResolverIPs: []string{"10.96.0.10"},
				},
			}
		}),
		Entry("tcp without appProtocol", func(s *v1alpha1.ConnectivityService) {
			s.Spec.Type, s.Spec.HTTPPort, s.Spec.TCPPort = v1alpha1.ServiceTypeTCP, nil, ptr.To[int32](6379)
		}),
		Entry("tlsSettings verify_ca and a spec.name", func(s *v1alpha1.ConnectivityService) {
			s.Spec.Name = "billing api"
			s.Spec.HTTPSPort = ptr.To[int32](8443)
			s.Spec.TLSSettings = &v1alpha1.TLSSettings{CertVerificationMode: v1alpha1.CertVerifyCA}
		}),
		Entry("accountRef to a CloudflareAccount", func(s *v1alpha1.ConnectivityService) {
			s.Spec.AccountRef = &v1alpha1.AccountReference{Kind: v1alpha1.AccountKindNamespaced, Name: "team-account"}
		}),
		Entry("accountRef without kind", func(s *v1alpha1.ConnectivityService) {
			s.Spec.AccountRef = &v1alpha1.AccountReference{Name: "shared"}
		}),

		// serviceRef
		Entry("serviceRef by port number, address defaulted to Hostname, with resolverNetwork", func(s *v1alpha1.ConnectivityService) {
			serviceRefHost(s, v1alpha1.ServiceReference{Name: "web", Port: intstr.FromInt32(8080)})
		}),
		Entry("serviceRef by port name, resolverNetwork.tunnelRef", func(s *v1alpha1.ConnectivityService) {
			serviceRefHost(s, v1alpha1.ServiceReference{Name: "web", Port: intstr.FromString("https")})
			s.Spec.Host.ResolverNetwork = &v1alpha1.ResolverNetwork{TunnelRef: &v1alpha1.TunnelReference{Name: "edge"}}
		}),
		Entry("serviceRef with address Hostname given and resolverIPs", func(s *v1alpha1.ConnectivityService) {
			serviceRefHost(s, v1alpha1.ServiceReference{
				Name: "web", Port: intstr.FromString("http"), Address: v1alpha1.ServiceAddressHostname,
			})
			s.Spec.Host.ResolverNetwork.ResolverIPs = []string{"10.96.0.10", "fd00:10:96::a"}
		}),
		Entry("serviceRef ClusterIP with network.tunnelID, tcp postgresql", func(s *v1alpha1.ConnectivityService) {
			s.Spec.Host = v1alpha1.ServiceHost{
				ServiceRef: &v1alpha1.ServiceReference{
					Name: "billing-db", Port: intstr.FromInt32(5432), Address: v1alpha1.ServiceAddressClusterIP,
				},
				Network: &v1alpha1.Network{TunnelID: tunnelID},
			}
			s.Spec.Type, s.Spec.HTTPPort, s.Spec.AppProtocol = v1alpha1.ServiceTypeTCP, nil, "postgresql"
		}),
		Entry("serviceRef ClusterIP with network.tunnelRef and an httpPort of its own", func(s *v1alpha1.ConnectivityService) {
			s.Spec.Host = v1alpha1.ServiceHost{
				ServiceRef: &v1alpha1.ServiceReference{
					Name: "web", Port: intstr.FromString("http"), Address: v1alpha1.ServiceAddressClusterIP,
				},
				Network: &v1alpha1.Network{TunnelRef: &v1alpha1.TunnelReference{Name: "edge"}},
			}
		}),
		Entry("serviceRef name of 63 characters", func(s *v1alpha1.ConnectivityService) {
			serviceRefHost(s, v1alpha1.ServiceReference{Name: "w" + strings.Repeat("0", 61) + "b", Port: intstr.FromInt32(80)})
		}),

		// managementPolicy, suspend and export
		Entry("managementPolicy Observe", func(s *v1alpha1.ConnectivityService) {
			s.Spec.ManagementPolicy = v1alpha1.ManagementPolicyObserve
		}),
		Entry("managementPolicy Manage given", func(s *v1alpha1.ConnectivityService) {
			s.Spec.ManagementPolicy = v1alpha1.ManagementPolicyManage
		}),
		Entry("suspend true", func(s *v1alpha1.ConnectivityService) {
			s.Spec.Suspend = true
		}),
		Entry("export with only a binding, configMapName left to the operator", func(s *v1alpha1.ConnectivityService) {
			s.Spec.Export = &v1alpha1.Export{Binding: "API"}
		}),
		Entry("export with a binding and a configMapName", func(s *v1alpha1.ConnectivityService) {
			s.Spec.Export = &v1alpha1.Export{Binding: "ORDERS_DB", ConfigMapName: "orders.db-binding"}
		}),
		Entry("export binding with '_' and '$', of 64 characters", func(s *v1alpha1.ConnectivityService) {
			s.Spec.Export = &v1alpha1.Export{Binding: "_$" + strings.Repeat("a", 61) + "9"}
		}),
		Entry("export binding of one letter", func(s *v1alpha1.ConnectivityService) {
			s.Spec.Export = &v1alpha1.Export{Binding: "x"}
		}),
		Entry("Observe, suspended, exporting a serviceRef origin", func(s *v1alpha1.ConnectivityService) {
			serviceRefHost(s, v1alpha1.ServiceReference{Name: "web", Port: intstr.FromInt32(80)})
			s.Spec.ManagementPolicy, s.Spec.Suspend = v1alpha1.ManagementPolicyObserve, true
			s.Spec.Export = &v1alpha1.Export{Binding: "WEB", ConfigMapName: "web-binding"}
		}),
	)

	// status mirrors Cloudflare: ids are UUIDs and addresses are IPs, so their lengths are bounded.
	It("bounds status ids and addresses by their formats", func(ctx SpecContext) {
		obj := validService(ns)
		Expect(k8sClient.Create(ctx, obj)).To(Succeed())
		obj.Status.ServiceID = "550e8400-e29b-41d4-a716-446655440000"
		obj.Status.Host = &v1alpha1.SentHost{
			IPv6: "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", TunnelID: tunnelID,
			ResolverIPs: []string{"10.96.0.10"},
		}
		Expect(k8sClient.Status().Update(ctx, obj)).To(Succeed())
		obj.Status.ServiceID += "0"
		expectInvalid(k8sClient.Status().Update(ctx, obj), "status.serviceID: Too long: may not be more than 36")
	})

	It("keeps an explicit Orphan deletionPolicy", func(ctx SpecContext) {
		obj := validService(ns)
		obj.Spec.DeletionPolicy = v1alpha1.DeletionPolicyOrphan
		Expect(k8sClient.Create(ctx, obj)).To(Succeed())
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
		Expect(obj.Spec.DeletionPolicy).To(Equal(v1alpha1.DeletionPolicyOrphan))
	})

	Context("on update", func() {
		const immutable = "accountRef is immutable"

		// created stores a valid service with the given accountRef and returns it as stored.
		created := func(ctx context.Context, ref *v1alpha1.AccountReference) *v1alpha1.ConnectivityService {
			obj := validService(ns)
			obj.Spec.AccountRef = ref
			Expect(k8sClient.Create(ctx, obj)).To(Succeed())
			return obj
		}

		DescribeTable("rejects any change of accountRef",
			func(ctx SpecContext, before, after *v1alpha1.AccountReference) {
				obj := created(ctx, before)
				obj.Spec.AccountRef = after
				expectInvalid(k8sClient.Update(ctx, obj), immutable)
			},
			Entry("name changed",
				&v1alpha1.AccountReference{Kind: v1alpha1.AccountKindNamespaced, Name: "a"},
				&v1alpha1.AccountReference{Kind: v1alpha1.AccountKindNamespaced, Name: "b"}),
			Entry("kind changed",
				&v1alpha1.AccountReference{Kind: v1alpha1.AccountKindNamespaced, Name: "a"},
				&v1alpha1.AccountReference{Kind: v1alpha1.AccountKindCluster, Name: "a"}),
			Entry("added", nil,
				&v1alpha1.AccountReference{Kind: v1alpha1.AccountKindCluster, Name: "default"}),
			Entry("removed",
				&v1alpha1.AccountReference{Kind: v1alpha1.AccountKindNamespaced, Name: "a"}, nil),
		)

		It("accepts changes to the other fields", func(ctx SpecContext) {
			obj := created(ctx, &v1alpha1.AccountReference{Kind: v1alpha1.AccountKindNamespaced, Name: "a"})
			obj.Spec.Name = "renamed"
			obj.Spec.Host = v1alpha1.ServiceHost{
				Hostname:        "web.apps.svc.cluster.local",
				ResolverNetwork: &v1alpha1.ResolverNetwork{TunnelID: tunnelID, ResolverIPs: []string{"10.96.0.10"}},
			}
			obj.Spec.HTTPPort, obj.Spec.HTTPSPort = nil, ptr.To[int32](443)
			obj.Spec.DeletionPolicy = v1alpha1.DeletionPolicyOrphan
			Expect(k8sClient.Update(ctx, obj)).To(Succeed())
		})

		It("accepts moving a service from a tunnelID to a tunnelRef and back", func(ctx SpecContext) {
			obj := created(ctx, nil)
			obj.Spec.Host.Network = &v1alpha1.Network{TunnelRef: &v1alpha1.TunnelReference{Name: "edge"}}
			Expect(k8sClient.Update(ctx, obj)).To(Succeed())
			obj.Spec.Host.Network = &v1alpha1.Network{TunnelID: tunnelID}
			Expect(k8sClient.Update(ctx, obj)).To(Succeed())
		})

		It("accepts an update that leaves out a defaulted accountRef.kind", func(ctx SpecContext) {
			obj := created(ctx, &v1alpha1.AccountReference{Name: "shared"})
			u := &unstructured.Unstructured{}
			roundTrip(obj, &u.Object)
			u.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("ConnectivityService"))
			unstructured.RemoveNestedField(u.Object, "spec", "accountRef", "kind")
			Expect(unstructured.SetNestedField(u.Object, "renamed", "spec", "name")).To(Succeed())
			Expect(k8sClient.Update(ctx, u)).To(Succeed())
		})
	})

	It("prints the origin in the Host column of kubectl get", func(ctx SpecContext) {
		hosts := map[string]v1alpha1.ServiceHost{
			"v4":   {IPv4: "10.0.0.5", Network: &v1alpha1.Network{TunnelID: tunnelID}},
			"v6":   {IPv6: "fd00::5", Network: &v1alpha1.Network{TunnelID: tunnelID}},
			"dual": {IPv4: "10.0.0.5", IPv6: "fd00::5", Network: &v1alpha1.Network{TunnelID: tunnelID}},
			"name": {Hostname: "web.apps.svc.cluster.local", ResolverNetwork: &v1alpha1.ResolverNetwork{TunnelID: tunnelID}},
		}
		for name, host := range hosts {
			obj := validService(ns)
			obj.GenerateName, obj.Name, obj.Spec.Host = "", name, host
			Expect(k8sClient.Create(ctx, obj)).To(Succeed())
		}

		Expect(hostColumn(ctx, ns)).To(Equal(map[string]string{
			"v4":   "10.0.0.5",
			"v6":   "fd00::5",
			"dual": "10.0.0.5",
			"name": "web.apps.svc.cluster.local",
		}))
	})
})

// hostColumn asks the API server for the server-side table that kubectl get prints and returns
// the Host cell of each ConnectivityService in ns, by object name.
func hostColumn(ctx context.Context, ns string) map[string]string {
	GinkgoHelper()
	cs, err := kubernetes.NewForConfig(cfg)
	Expect(err).NotTo(HaveOccurred())
	table := &metav1.Table{}
	Expect(cs.RESTClient().Get().
		AbsPath("/apis", v1alpha1.GroupVersion.Group, v1alpha1.GroupVersion.Version,
			"namespaces", ns, "connectivityservices").
		SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").
		Do(ctx).Into(table)).To(Succeed())

	col := -1
	for i, c := range table.ColumnDefinitions {
		if c.Name == "Host" {
			col = i
		}
	}
	Expect(col).NotTo(Equal(-1), "no Host column in %v", table.ColumnDefinitions)
	got := map[string]string{}
	for _, row := range table.Rows {
		meta := &metav1.PartialObjectMetadata{}
		roundTrip(row.Object, meta)
		got[meta.Name], _ = row.Cells[col].(string)
	}
	return got
}

// accountKinds drives the same checks through both account kinds, whose specs share AccountSpec.
var accountKinds = []struct {
	kind       string
	namespaced bool
}{
	{kind: "CloudflareAccount", namespaced: true},
	{kind: "ClusterCloudflareAccount", namespaced: false},
}

var _ = Describe("account validation", func() {
	for _, ak := range accountKinds {
		Context(ak.kind, func() {
			var ns string

			BeforeEach(func(ctx SpecContext) {
				ns = newNamespace(ctx)
			})

			// account builds a valid account object of this kind; a cluster-scoped one gets a
			// generated name so that specs do not collide.
			account := func() *unstructured.Unstructured {
				u := &unstructured.Unstructured{Object: map[string]any{
					"apiVersion": v1alpha1.GroupVersion.String(),
					"kind":       ak.kind,
					"metadata":   map[string]any{"generateName": "account-"},
					"spec": map[string]any{
						"accountID": accountID,
						"secretRef": map[string]any{"name": "cloudflare-credentials"},
					},
				}}
				if ak.namespaced {
					u.SetNamespace(ns)
				} else {
					Expect(unstructured.SetNestedField(u.Object, "connectivity-operator-system", "spec", "secretRef", "namespace")).To(Succeed())
				}
				return u
			}
			// create stores u and, for the cluster-scoped kind, removes it after the spec.
			create := func(ctx context.Context, u *unstructured.Unstructured) error {
				err := k8sClient.Create(ctx, u)
				if err == nil && !ak.namespaced {
					DeferCleanup(func(ctx SpecContext) {
						Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, u))).To(Succeed())
					})
				}
				return err
			}

			It("accepts a valid account with a rate limit", func(ctx SpecContext) {
				u := account()
				Expect(unstructured.SetNestedMap(u.Object, map[string]any{"requestsPer5m": int64(600), "burst": int64(20)}, "spec", "rateLimit")).To(Succeed())
				Expect(create(ctx, u)).To(Succeed())
			})

			DescribeTable("rejects an invalid account at create",
				func(ctx SpecContext, mutate func(u *unstructured.Unstructured), message string) {
					u := account()
					mutate(u)
					expectInvalid(create(ctx, u), message)
				},
				Entry("accountID longer than 32 characters", func(u *unstructured.Unstructured) {
					Expect(unstructured.SetNestedField(u.Object, accountID+"0", "spec", "accountID")).To(Succeed())
				}, "spec.accountID: Too long: may not be more than 32"),
				Entry("accountID not hexadecimal", func(u *unstructured.Unstructured) {
					Expect(unstructured.SetNestedField(u.Object, "my-account", "spec", "accountID")).To(Succeed())
				}, "accountID must be the hexadecimal Cloudflare account id"),
				Entry("accountID empty", func(u *unstructured.Unstructured) {
					Expect(unstructured.SetNestedField(u.Object, "", "spec", "accountID")).To(Succeed())
				}, "spec.accountID in body should be at least 1 chars long"),
				Entry("accountID missing", func(u *unstructured.Unstructured) {
					unstructured.RemoveNestedField(u.Object, "spec", "accountID")
				}, "spec.accountID: Required value"),
				Entry("secretRef without name", func(u *unstructured.Unstructured) {
					unstructured.RemoveNestedField(u.Object, "spec", "secretRef", "name")
				}, "spec.secretRef.name: Required value"),
				Entry("secretRef.name not a Secret name", func(u *unstructured.Unstructured) {
					Expect(unstructured.SetNestedField(u.Object, "Cloudflare Credentials", "spec", "secretRef", "name")).To(Succeed())
				}, "secretRef.name must be a Kubernetes object name"),
				Entry("secretRef missing", func(u *unstructured.Unstructured) {
					unstructured.RemoveNestedField(u.Object, "spec", "secretRef")
				}, "spec.secretRef: Required value"),
				Entry("rateLimit above Cloudflare's 1,200 calls per 5 minutes", func(u *unstructured.Unstructured) {
					Expect(unstructured.SetNestedField(u.Object, int64(1201), "spec", "rateLimit", "requestsPer5m")).To(Succeed())
				}, "spec.rateLimit.requestsPer5m in body should be less than or equal to 1200"),
			)

			if !ak.namespaced {
				It("rejects a secretRef.namespace that is not a namespace name", func(ctx SpecContext) {
					u := account()
					Expect(unstructured.SetNestedField(u.Object, "connectivity.operator", "spec", "secretRef", "namespace")).To(Succeed())
					expectInvalid(create(ctx, u), "secretRef.namespace must be a namespace name")
				})
			}

			It("rejects a change of accountID and accepts a change of secretRef", func(ctx SpecContext) {
				u := account()
				Expect(create(ctx, u)).To(Succeed())

				Expect(unstructured.SetNestedField(u.Object, "0123456789abcdef0123456789abcdef", "spec", "accountID")).To(Succeed())
				expectInvalid(k8sClient.Update(ctx, u), "accountID is immutable: create a new account object for another Cloudflare account")

				Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(u), u)).To(Succeed())
				Expect(unstructured.SetNestedField(u.Object, "other-credentials", "spec", "secretRef", "name")).To(Succeed())
				Expect(k8sClient.Update(ctx, u)).To(Succeed())
			})
		})
	}
})

var _ = Describe("CRD documentation", func() {
	It("describes every spec property, for kubectl explain", func() {
		files, err := filepath.Glob(filepath.Join(crdDir, "*.yaml"))
		Expect(err).NotTo(HaveOccurred())
		Expect(files).To(HaveLen(4))

		undocumented := make([]string, 0, len(files))
		for _, file := range files {
			data, err := os.ReadFile(file)
			Expect(err).NotTo(HaveOccurred())
			crd := &apiextensionsv1.CustomResourceDefinition{}
			Expect(yaml.UnmarshalStrict(data, crd)).To(Succeed(), file)
			for _, v := range crd.Spec.Versions {
				spec, ok := v.Schema.OpenAPIV3Schema.Properties["spec"]
				Expect(ok).To(BeTrue(), "%s has no spec", file)
				undocumented = append(undocumented, missingDescriptions(crd.Spec.Names.Kind+"."+v.Name+".spec", spec)...)
			}
		}
		Expect(undocumented).To(BeEmpty())
	})
})

// missingDescriptions lists the paths under s, s included, whose schema has no description.
func missingDescriptions(path string, s apiextensionsv1.JSONSchemaProps) []string {
	var missing []string
	if strings.TrimSpace(s.Description) == "" {
		missing = append(missing, path)
	}
	for name, p := range s.Properties {
		missing = append(missing, missingDescriptions(path+"."+name, p)...)
	}
	if s.Items != nil && s.Items.Schema != nil && s.Items.Schema.Type == "object" {
		missing = append(missing, missingDescriptions(path+"[]", *s.Items.Schema)...)
	}
	return missing
}

var _ = Describe("samples", func() {
	const samplesDir = "../../config/samples"

	It("lists every sample in kustomization.yaml", func() {
		data, err := os.ReadFile(filepath.Join(samplesDir, "kustomization.yaml"))
		Expect(err).NotTo(HaveOccurred())
		var kustomization struct {
			Resources []string `json:"resources"`
		}
		Expect(yaml.Unmarshal(data, &kustomization)).To(Succeed())
		Expect(kustomization.Resources).To(ConsistOf(sampleFiles(samplesDir)))
	})

	It("are all accepted by the API server", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		kinds := map[string]int{}
		for _, file := range sampleFiles(samplesDir) {
			for _, u := range sampleObjects(filepath.Join(samplesDir, file)) {
				namespaced, err := k8sClient.IsObjectNamespaced(u)
				Expect(err).NotTo(HaveOccurred(), file)
				if namespaced {
					u.SetNamespace(ns)
				}
				Expect(k8sClient.Create(ctx, u)).To(Succeed(), "%s: %s %s", file, u.GetKind(), u.GetName())
				if !namespaced {
					DeferCleanup(func(ctx SpecContext) {
						Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, u))).To(Succeed())
					})
				}
				kinds[u.GetKind()]++
			}
		}
		Expect(kinds).To(HaveKey("ConnectivityService"))
		Expect(kinds).To(HaveKey("CloudflareAccount"))
		Expect(kinds).To(HaveKey("ClusterCloudflareAccount"))
		Expect(kinds).To(HaveKey("CloudflareTunnel"))
		Expect(kinds).To(HaveKey("Service"), "the serviceRef samples bring the Services they name")
		Expect(kinds).To(HaveLen(5), "samples must hold only this operator's kinds and Services (no Secrets)")
	})
})

// sampleFiles lists the sample manifests in dir, by file name, kustomization.yaml excluded.
func sampleFiles(dir string) []string {
	entries, err := os.ReadDir(dir)
	Expect(err).NotTo(HaveOccurred())
	var files []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".yaml") && e.Name() != "kustomization.yaml" {
			files = append(files, e.Name())
		}
	}
	slices.Sort(files)
	Expect(files).NotTo(BeEmpty())
	return files
}

// sampleObjects decodes every YAML document of file.
func sampleObjects(file string) []*unstructured.Unstructured {
	f, err := os.Open(file)
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = f.Close() }()

	var objs []*unstructured.Unstructured
	decoder := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
	for {
		u := &unstructured.Unstructured{}
		err := decoder.Decode(&u.Object)
		if errors.Is(err, io.EOF) {
			break
		}
		Expect(err).NotTo(HaveOccurred(), file)
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
	Expect(objs).NotTo(BeEmpty(), file)
	return objs
}

package registry

import (
	"fmt"
	"strconv"
	"strings"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// otherResources returns coordination.k8s.io/v1 leases and
// discovery.k8s.io/v1 endpointslices. Neither has a status or any other
// subresource, so a create or update stores the object as sent (after
// defaulting and validation).
func otherResources() []*Resource {
	return []*Resource{
		{
			Group: "coordination.k8s.io", Version: "v1", Resource: "leases",
			Kind: "Lease", ListKind: "LeaseList",
			Namespaced: true,
			New:        func() runtime.Object { return &coordinationv1.Lease{} },
			NewList:    func() runtime.Object { return &coordinationv1.LeaseList{} },
			Validate:   func(obj runtime.Object) field.ErrorList { return validateLease(obj.(*coordinationv1.Lease)) },
			ValidateUpdate: func(obj, _ runtime.Object) field.ErrorList {
				return validateLeaseSpec(&obj.(*coordinationv1.Lease).Spec)
			},
			Columns: []metav1.TableColumnDefinition{
				coreNameColumn(),
				{Name: "Holder", Type: "string", Description: coordinationv1.LeaseSpec{}.SwaggerDoc()["holderIdentity"]},
				coreAgeColumn(),
			},
			Row: func(obj runtime.Object) []any { return leaseRow(obj.(*coordinationv1.Lease)) },
		},
		{
			Group: "discovery.k8s.io", Version: "v1", Resource: "endpointslices",
			Kind: "EndpointSlice", ListKind: "EndpointSliceList",
			Namespaced: true,
			New:        func() runtime.Object { return &discoveryv1.EndpointSlice{} },
			NewList:    func() runtime.Object { return &discoveryv1.EndpointSliceList{} },
			Default:    func(obj runtime.Object) { defaultEndpointSlice(obj.(*discoveryv1.EndpointSlice)) },
			Validate: func(obj runtime.Object) field.ErrorList {
				return validateEndpointSlice(obj.(*discoveryv1.EndpointSlice))
			},
			ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
				return validateEndpointSliceUpdate(obj.(*discoveryv1.EndpointSlice), old.(*discoveryv1.EndpointSlice))
			},
			Columns: []metav1.TableColumnDefinition{
				coreNameColumn(),
				{Name: "AddressType", Type: "string", Description: discoveryv1.EndpointSlice{}.SwaggerDoc()["addressType"]},
				{Name: "Ports", Type: "string", Description: discoveryv1.EndpointSlice{}.SwaggerDoc()["ports"]},
				{Name: "Endpoints", Type: "string", Description: discoveryv1.EndpointSlice{}.SwaggerDoc()["endpoints"]},
				coreAgeColumn(),
			},
			Row: func(obj runtime.Object) []any { return endpointSliceRow(obj.(*discoveryv1.EndpointSlice)) },
		},
	}
}

// validateLease checks a Lease on create: a DNS-1123 subdomain name and a
// valid spec.
func validateLease(l *coordinationv1.Lease) field.ErrorList {
	errs := validateObjectName(l.Name, apivalidation.NameIsDNSSubdomain)
	return append(errs, validateLeaseSpec(&l.Spec)...)
}

// validateLeaseSpec checks what kube-apiserver checks in a Lease's spec:
// leaseDurationSeconds > 0 and leaseTransitions ≥ 0 when set, a
// preferredHolder only together with a strategy.
func validateLeaseSpec(spec *coordinationv1.LeaseSpec) field.ErrorList {
	path := field.NewPath("spec")
	var errs field.ErrorList
	if d := spec.LeaseDurationSeconds; d != nil && *d <= 0 {
		errs = append(errs, field.Invalid(path.Child("leaseDurationSeconds"), *d, "must be greater than 0"))
	}
	if t := spec.LeaseTransitions; t != nil && *t < 0 {
		errs = append(errs, field.Invalid(path.Child("leaseTransitions"), *t, "must be greater than or equal to 0"))
	}
	if spec.PreferredHolder != nil && *spec.PreferredHolder != "" && (spec.Strategy == nil || *spec.Strategy == "") {
		errs = append(errs, field.Forbidden(path.Child("preferredHolder"), "may only be specified if `strategy` is defined"))
	}
	return errs
}

// leaseRow: NAME, HOLDER (empty when nobody holds the lease), AGE.
func leaseRow(l *coordinationv1.Lease) []any {
	holder := ""
	if l.Spec.HolderIdentity != nil {
		holder = *l.Spec.HolderIdentity
	}
	return []any{l.Name, holder, age(l.CreationTimestamp)}
}

// defaultEndpointSlice gives every port an empty name and protocol TCP
// when unset, as discovery.k8s.io/v1 does.
func defaultEndpointSlice(s *discoveryv1.EndpointSlice) {
	for i := range s.Ports {
		p := &s.Ports[i]
		if p.Name == nil {
			p.Name = new("")
		}
		if p.Protocol == nil {
			p.Protocol = new(corev1.ProtocolTCP)
		}
	}
}

// validateEndpointSlice checks an EndpointSlice on create: a DNS-1123
// subdomain name, addressType IPv4, IPv6 or FQDN, at least one address per
// endpoint, each valid for the address type, a DNS-label hostname, and
// ports with unique DNS-label names (empty allowed) and a supported
// protocol.
func validateEndpointSlice(s *discoveryv1.EndpointSlice) field.ErrorList {
	errs := validateObjectName(s.Name, apivalidation.NameIsDNSSubdomain)
	typePath := field.NewPath("addressType")
	switch s.AddressType {
	case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6, discoveryv1.AddressTypeFQDN:
	case "":
		errs = append(errs, field.Required(typePath, ""))
	default:
		errs = append(errs, field.NotSupported(typePath, s.AddressType, []string{
			string(discoveryv1.AddressTypeFQDN), string(discoveryv1.AddressTypeIPv4), string(discoveryv1.AddressTypeIPv6),
		}))
	}
	errs = append(errs, endpointSliceEndpointErrors(s.Endpoints, s.AddressType)...)
	return append(errs, endpointSlicePortErrors(s.Ports)...)
}

// validateEndpointSliceUpdate checks an update as a create, and that
// addressType did not change.
func validateEndpointSliceUpdate(s, old *discoveryv1.EndpointSlice) field.ErrorList {
	errs := validateEndpointSlice(s)
	return append(errs, apivalidation.ValidateImmutableField(s.AddressType, old.AddressType, field.NewPath("addressType"))...)
}

// endpointSliceEndpointErrors checks endpoints[*] of a slice of addrType.
func endpointSliceEndpointErrors(endpoints []discoveryv1.Endpoint, addrType discoveryv1.AddressType) field.ErrorList {
	var errs field.ErrorList
	for i, ep := range endpoints {
		path := field.NewPath("endpoints").Index(i)
		addrPath := path.Child("addresses")
		if len(ep.Addresses) == 0 {
			errs = append(errs, field.Required(addrPath, "must contain at least 1 address"))
		} else if len(ep.Addresses) > 100 {
			errs = append(errs, field.TooMany(addrPath, len(ep.Addresses), 100))
		}
		for j, addr := range ep.Addresses {
			p := addrPath.Index(j)
			switch addrType {
			case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6:
				ipErrs := validation.IsValidIPForLegacyField(p, addr, false, nil)
				// A valid IP is an IPv6 one exactly when it has a colon.
				if isV6 := strings.Contains(addr, ":"); len(ipErrs) == 0 && isV6 != (addrType == discoveryv1.AddressTypeIPv6) {
					ipErrs = append(ipErrs, field.Invalid(p, addr, fmt.Sprintf("must be an %s address", addrType)))
				}
				errs = append(errs, ipErrs...)
			case discoveryv1.AddressTypeFQDN:
				errs = append(errs, validation.IsFullyQualifiedDomainName(p, addr)...)
			}
		}
		if ep.Hostname != nil {
			for _, msg := range validation.IsDNS1123Label(*ep.Hostname) {
				errs = append(errs, field.Invalid(path.Child("hostname"), *ep.Hostname, msg))
			}
		}
		if ep.NodeName != nil {
			for _, msg := range validation.IsDNS1123Subdomain(*ep.NodeName) {
				errs = append(errs, field.Invalid(path.Child("nodeName"), *ep.NodeName, msg))
			}
		}
	}
	return errs
}

// endpointSlicePortErrors checks ports[*]; it expects defaulted ports
// (name and protocol set).
func endpointSlicePortErrors(ports []discoveryv1.EndpointPort) field.ErrorList {
	var errs field.ErrorList
	names := map[string]bool{}
	for i, p := range ports {
		path := field.NewPath("ports").Index(i)
		name := ""
		if p.Name != nil {
			name = *p.Name
		}
		if name != "" {
			for _, msg := range validation.IsDNS1123Label(name) {
				errs = append(errs, field.Invalid(path.Child("name"), name, msg))
			}
		}
		if names[name] {
			errs = append(errs, field.Duplicate(path.Child("name"), name))
		}
		names[name] = true
		switch {
		case p.Protocol == nil:
			errs = append(errs, field.Required(path.Child("protocol"), ""))
		case *p.Protocol != corev1.ProtocolTCP && *p.Protocol != corev1.ProtocolUDP && *p.Protocol != corev1.ProtocolSCTP:
			errs = append(errs, field.NotSupported(path.Child("protocol"), *p.Protocol, []string{
				string(corev1.ProtocolSCTP), string(corev1.ProtocolTCP), string(corev1.ProtocolUDP),
			}))
		}
		if p.Port != nil {
			for _, msg := range validation.IsValidPortNum(int(*p.Port)) {
				errs = append(errs, field.Invalid(path.Child("port"), *p.Port, msg))
			}
		}
	}
	return errs
}

// endpointSliceRow: NAME, ADDRESSTYPE, PORTS, ENDPOINTS, AGE. PORTS and
// ENDPOINTS list at most three entries ("80,443", "10.0.0.1,10.0.0.2 + 5
// more...") and read "<unset>" when empty; a port without a number shows
// its name, or "*".
func endpointSliceRow(s *discoveryv1.EndpointSlice) []any {
	ports := make([]string, 0, len(s.Ports))
	for _, p := range s.Ports {
		switch {
		case p.Port != nil:
			ports = append(ports, strconv.Itoa(int(*p.Port)))
		case p.Name != nil:
			ports = append(ports, *p.Name)
		default:
			ports = append(ports, "*")
		}
	}
	var addrs []string
	for _, ep := range s.Endpoints {
		addrs = append(addrs, ep.Addresses...)
	}
	return []any{s.Name, string(s.AddressType), printShortList(ports), printShortList(addrs), age(s.CreationTimestamp)}
}

// printShortList joins the first three items with commas, adds " + N
// more..." for the rest, and returns "<unset>" for no items.
func printShortList(items []string) string {
	const shown = 3
	switch {
	case len(items) == 0:
		return "<unset>"
	case len(items) > shown:
		return fmt.Sprintf("%s + %d more...", strings.Join(items[:shown], ","), len(items)-shown)
	default:
		return strings.Join(items, ",")
	}
}

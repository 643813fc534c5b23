package registry

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// serviceResource is services: namespaced, short name svc, in category
// all, with a status subresource (the load balancer's ingress).
//
// Allocating cluster IPs and node ports is not this strategy's job (it
// holds no state). What it does on update is what kube does so that
// `kubectl apply` and `kubectl replace` of a manifest without clusterIP or
// nodePort keep the allocated values: an update that leaves spec.clusterIP,
// spec.clusterIPs, a port's nodePort or spec.healthCheckNodePort unset
// takes them from the stored service; and a change of type drops the
// values the new type does not use (clusterIP for ExternalName, node
// ports for ClusterIP), which the allocator should then release.
func serviceResource() *Resource {
	return &Resource{
		Version:      "v1",
		Resource:     "services",
		Kind:         "Service",
		ListKind:     "ServiceList",
		Namespaced:   true,
		ShortNames:   []string{"svc"},
		Categories:   []string{"all"},
		Subresources: []string{"status"},
		New:          func() runtime.Object { return &corev1.Service{} },
		NewList:      func() runtime.Object { return &corev1.ServiceList{} },

		Default: func(obj runtime.Object) { defaultService(obj.(*corev1.Service)) },
		PrepareForCreate: func(obj runtime.Object) {
			obj.(*corev1.Service).Status = corev1.ServiceStatus{}
		},
		PrepareForUpdate: func(obj, old runtime.Object) { prepareServiceUpdate(obj.(*corev1.Service), old.(*corev1.Service)) },
		PrepareForStatusUpdate: func(obj, old runtime.Object) {
			obj.(*corev1.Service).Spec = *old.(*corev1.Service).Spec.DeepCopy()
		},
		Validate: func(obj runtime.Object) field.ErrorList { return validateService(obj.(*corev1.Service)) },
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			svc, oldSvc := obj.(*corev1.Service), old.(*corev1.Service)
			return append(validateService(svc), validateServiceUpdate(svc, oldSvc)...)
		},
		Fields: func(obj runtime.Object) fields.Set {
			svc := obj.(*corev1.Service)
			return fields.Set{"spec.clusterIP": svc.Spec.ClusterIP, "spec.type": string(svc.Spec.Type)}
		},
		Columns: serviceColumns(),
		Row:     func(obj runtime.Object) []any { return serviceRow(obj.(*corev1.Service)) },
	}
}

// defaultService sets kube's service defaults: type ClusterIP, session
// affinity None (ClientIP gets a 3h timeout), TCP ports whose targetPort is
// the port, traffic policies Cluster, a single-stack IPv4 family for every
// type but ExternalName, node ports allocated for load balancers, and
// clusterIPs mirroring clusterIP.
func defaultService(svc *corev1.Service) {
	spec := &svc.Spec
	if spec.Type == "" {
		spec.Type = corev1.ServiceTypeClusterIP
	}
	if spec.SessionAffinity == "" {
		spec.SessionAffinity = corev1.ServiceAffinityNone
	}
	if spec.SessionAffinity == corev1.ServiceAffinityClientIP &&
		(spec.SessionAffinityConfig == nil || spec.SessionAffinityConfig.ClientIP == nil || spec.SessionAffinityConfig.ClientIP.TimeoutSeconds == nil) {
		timeout := corev1.DefaultClientIPServiceAffinitySeconds
		spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: &timeout}}
	}
	for i := range spec.Ports {
		p := &spec.Ports[i]
		if p.Protocol == "" {
			p.Protocol = corev1.ProtocolTCP
		}
		if p.TargetPort == (intstr.IntOrString{}) {
			p.TargetPort = intstr.FromInt32(p.Port)
		}
	}
	if (spec.Type == corev1.ServiceTypeNodePort || spec.Type == corev1.ServiceTypeLoadBalancer) && spec.ExternalTrafficPolicy == "" {
		spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
	}
	if spec.Type == corev1.ServiceTypeLoadBalancer && spec.AllocateLoadBalancerNodePorts == nil {
		allocate := true
		spec.AllocateLoadBalancerNodePorts = &allocate
	}
	if spec.Type != corev1.ServiceTypeExternalName {
		if spec.InternalTrafficPolicy == nil {
			policy := corev1.ServiceInternalTrafficPolicyCluster
			spec.InternalTrafficPolicy = &policy
		}
		if spec.IPFamilyPolicy == nil {
			policy := corev1.IPFamilyPolicySingleStack
			spec.IPFamilyPolicy = &policy
		}
		if len(spec.IPFamilies) == 0 {
			spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
		}
	}
	if len(spec.ClusterIPs) == 0 && spec.ClusterIP != "" {
		spec.ClusterIPs = []string{spec.ClusterIP}
	} else if spec.ClusterIP == "" && len(spec.ClusterIPs) > 0 {
		spec.ClusterIP = spec.ClusterIPs[0]
	}
}

// needsClusterIP reports whether a service of this type has a cluster IP
// (even "None" counts): all but ExternalName.
func needsClusterIP(svc *corev1.Service) bool { return svc.Spec.Type != corev1.ServiceTypeExternalName }

// needsNodePort reports whether a service of this type has node ports.
func needsNodePort(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer
}

// prepareServiceUpdate keeps the stored status (without load-balancer
// ingress once the service is no load balancer), carries allocated values
// the update left unset over from old, and drops those the new type no
// longer uses when the update did not change them.
func prepareServiceUpdate(svc, old *corev1.Service) {
	svc.Status = *old.Status.DeepCopy()
	spec, oldSpec := &svc.Spec, &old.Spec

	if needsClusterIP(old) && needsClusterIP(svc) {
		if spec.ClusterIP == "" && len(spec.ClusterIPs) == 0 {
			spec.ClusterIP = oldSpec.ClusterIP
			spec.ClusterIPs = append([]string(nil), oldSpec.ClusterIPs...)
		}
	}
	if needsNodePort(old) && needsNodePort(svc) {
		for i := range spec.Ports {
			p := &spec.Ports[i]
			if p.NodePort != 0 {
				continue
			}
			for _, op := range oldSpec.Ports {
				if op.Port == p.Port && op.Protocol == p.Protocol {
					p.NodePort = op.NodePort
					break
				}
			}
		}
		if spec.HealthCheckNodePort == 0 && spec.ExternalTrafficPolicy == oldSpec.ExternalTrafficPolicy {
			spec.HealthCheckNodePort = oldSpec.HealthCheckNodePort
		}
	}

	if needsClusterIP(old) && !needsClusterIP(svc) {
		if spec.ClusterIP == oldSpec.ClusterIP && strings.Join(spec.ClusterIPs, ",") == strings.Join(oldSpec.ClusterIPs, ",") {
			spec.ClusterIP, spec.ClusterIPs = "", nil
		}
		if fmt.Sprint(spec.IPFamilies) == fmt.Sprint(oldSpec.IPFamilies) {
			spec.IPFamilies = nil
		}
		if ipFamilyPolicy(spec) == ipFamilyPolicy(oldSpec) {
			spec.IPFamilyPolicy = nil
		}
	}
	if needsNodePort(old) && !needsNodePort(svc) && nodePortsSubset(spec.Ports, oldSpec.Ports) {
		for i := range spec.Ports {
			spec.Ports[i].NodePort = 0
		}
		if spec.ExternalTrafficPolicy == oldSpec.ExternalTrafficPolicy {
			spec.ExternalTrafficPolicy = ""
		}
	}
	if old.Spec.Type == corev1.ServiceTypeLoadBalancer && spec.Type != corev1.ServiceTypeLoadBalancer {
		if spec.HealthCheckNodePort == oldSpec.HealthCheckNodePort {
			spec.HealthCheckNodePort = 0
		}
		if spec.AllocateLoadBalancerNodePorts != nil && oldSpec.AllocateLoadBalancerNodePorts != nil &&
			*spec.AllocateLoadBalancerNodePorts == *oldSpec.AllocateLoadBalancerNodePorts {
			spec.AllocateLoadBalancerNodePorts = nil
		}
	}
	if spec.Type != corev1.ServiceTypeLoadBalancer {
		svc.Status.LoadBalancer = corev1.LoadBalancerStatus{}
	}
}

// ipFamilyPolicy returns the policy, or "" when unset.
func ipFamilyPolicy(spec *corev1.ServiceSpec) corev1.IPFamilyPolicy {
	if spec.IPFamilyPolicy == nil {
		return ""
	}
	return *spec.IPFamilyPolicy
}

// nodePortsSubset reports whether every node port in ports is also in old:
// the update added no node port of its own.
func nodePortsSubset(ports, old []corev1.ServicePort) bool {
	have := map[int32]bool{}
	for _, p := range old {
		have[p.NodePort] = true
	}
	for _, p := range ports {
		if p.NodePort != 0 && !have[p.NodePort] {
			return false
		}
	}
	return true
}

// validateService checks the name (a DNS-1035 label), the type, the ports
// (required unless headless or ExternalName; numbers, names and protocols
// valid; node ports only for NodePort and LoadBalancer; no duplicates), the
// cluster IP, selector labels, session affinity and traffic policies.
func validateService(svc *corev1.Service) field.ErrorList {
	errs := validateObjectName(svc.Name, apivalidation.NameIsDNS1035Label)
	spec := &svc.Spec
	specPath := field.NewPath("spec")

	types := []corev1.ServiceType{corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeExternalName}
	switch spec.Type {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeExternalName:
	case "":
		errs = append(errs, field.Required(specPath.Child("type"), ""))
	default:
		errs = append(errs, field.NotSupported(specPath.Child("type"), spec.Type, types))
	}

	headless := spec.ClusterIP == corev1.ClusterIPNone
	if spec.Type == corev1.ServiceTypeExternalName {
		if spec.ClusterIP != "" {
			errs = append(errs, field.Forbidden(specPath.Child("clusterIP"), "may not be set for ExternalName services"))
		}
		name := strings.TrimSuffix(spec.ExternalName, ".")
		if name == "" {
			errs = append(errs, field.Required(specPath.Child("externalName"), ""))
		} else {
			for _, msg := range validation.IsDNS1123Subdomain(name) {
				errs = append(errs, field.Invalid(specPath.Child("externalName"), spec.ExternalName, msg))
			}
		}
	} else if spec.ClusterIP != "" && !headless {
		errs = append(errs, validateIP(spec.ClusterIP, specPath.Child("clusterIP"))...)
	}
	if len(spec.ClusterIPs) > 0 && spec.ClusterIPs[0] != spec.ClusterIP {
		errs = append(errs, field.Invalid(specPath.Child("clusterIPs").Index(0), spec.ClusterIPs[0], "must be equal to spec.clusterIP"))
	}

	if len(spec.Ports) == 0 && !headless && spec.Type != corev1.ServiceTypeExternalName {
		errs = append(errs, field.Required(specPath.Child("ports"), ""))
	}
	portNames := map[string]bool{}
	ports := map[string]bool{}
	nodePorts := map[string]bool{}
	for i, p := range spec.Ports {
		pp := specPath.Child("ports").Index(i)
		switch {
		case p.Name == "" && len(spec.Ports) > 1:
			errs = append(errs, field.Required(pp.Child("name"), ""))
		case p.Name != "":
			errs = append(errs, dnsLabel(p.Name, pp.Child("name"))...)
			if portNames[p.Name] {
				errs = append(errs, field.Duplicate(pp.Child("name"), p.Name))
			}
			portNames[p.Name] = true
		}
		errs = append(errs, portNumber(p.Port, pp.Child("port"))...)
		errs = append(errs, validateProtocol(p.Protocol, pp.Child("protocol"))...)
		switch p.TargetPort.Type {
		case intstr.Int:
			errs = append(errs, portNumber(p.TargetPort.IntVal, pp.Child("targetPort"))...)
		case intstr.String:
			for _, msg := range validation.IsValidPortName(p.TargetPort.StrVal) {
				errs = append(errs, field.Invalid(pp.Child("targetPort"), p.TargetPort.StrVal, msg))
			}
		}
		key := strconv.Itoa(int(p.Port)) + "/" + string(p.Protocol)
		if ports[key] {
			errs = append(errs, field.Duplicate(pp, key))
		}
		ports[key] = true

		if p.NodePort != 0 {
			if !needsNodePort(svc) {
				errs = append(errs, field.Forbidden(pp.Child("nodePort"), fmt.Sprintf("may not be used when `type` is '%s'", spec.Type)))
			}
			errs = append(errs, portNumber(p.NodePort, pp.Child("nodePort"))...)
			npKey := strconv.Itoa(int(p.NodePort)) + "/" + string(p.Protocol)
			if nodePorts[npKey] {
				errs = append(errs, field.Duplicate(pp.Child("nodePort"), p.NodePort))
			}
			nodePorts[npKey] = true
		}
	}

	errs = append(errs, metav1validation.ValidateLabels(spec.Selector, specPath.Child("selector"))...)

	switch spec.SessionAffinity {
	case corev1.ServiceAffinityNone:
		if spec.SessionAffinityConfig != nil {
			errs = append(errs, field.Forbidden(specPath.Child("sessionAffinityConfig"), fmt.Sprintf("must not be set when session affinity is %s", spec.SessionAffinity)))
		}
	case corev1.ServiceAffinityClientIP:
		if c := spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
			if t := *c.ClientIP.TimeoutSeconds; t <= 0 || t > 86400 {
				errs = append(errs, field.Invalid(specPath.Child("sessionAffinityConfig", "clientIP", "timeoutSeconds"), t, "must be greater than 0 and less than 86400"))
			}
		}
	default:
		errs = append(errs, field.NotSupported(specPath.Child("sessionAffinity"), spec.SessionAffinity,
			[]corev1.ServiceAffinity{corev1.ServiceAffinityNone, corev1.ServiceAffinityClientIP}))
	}

	switch spec.ExternalTrafficPolicy {
	case "":
	case corev1.ServiceExternalTrafficPolicyCluster, corev1.ServiceExternalTrafficPolicyLocal:
		if !needsNodePort(svc) {
			errs = append(errs, field.Invalid(specPath.Child("externalTrafficPolicy"), spec.ExternalTrafficPolicy, "may only be set for externally-accessible services"))
		}
	default:
		errs = append(errs, field.NotSupported(specPath.Child("externalTrafficPolicy"), spec.ExternalTrafficPolicy,
			[]corev1.ServiceExternalTrafficPolicy{corev1.ServiceExternalTrafficPolicyCluster, corev1.ServiceExternalTrafficPolicyLocal}))
	}
	if p := spec.InternalTrafficPolicy; p != nil && *p != corev1.ServiceInternalTrafficPolicyCluster && *p != corev1.ServiceInternalTrafficPolicyLocal {
		errs = append(errs, field.NotSupported(specPath.Child("internalTrafficPolicy"), *p,
			[]corev1.ServiceInternalTrafficPolicy{corev1.ServiceInternalTrafficPolicyCluster, corev1.ServiceInternalTrafficPolicyLocal}))
	}
	if p := spec.IPFamilyPolicy; p != nil {
		switch *p {
		case corev1.IPFamilyPolicySingleStack, corev1.IPFamilyPolicyPreferDualStack, corev1.IPFamilyPolicyRequireDualStack:
		default:
			errs = append(errs, field.NotSupported(specPath.Child("ipFamilyPolicy"), *p,
				[]corev1.IPFamilyPolicy{corev1.IPFamilyPolicySingleStack, corev1.IPFamilyPolicyPreferDualStack, corev1.IPFamilyPolicyRequireDualStack}))
		}
	}
	return errs
}

// validateServiceUpdate makes an allocated cluster IP immutable while the
// service keeps a type that has one. Setting it when the stored service
// has none yet is allowed, so that an allocator may fill it in.
func validateServiceUpdate(svc, old *corev1.Service) field.ErrorList {
	if !needsClusterIP(old) || !needsClusterIP(svc) || old.Spec.ClusterIP == "" {
		return nil
	}
	var errs field.ErrorList
	if svc.Spec.ClusterIP != old.Spec.ClusterIP {
		errs = append(errs, field.Invalid(field.NewPath("spec", "clusterIP"), svc.Spec.ClusterIP, apivalidation.FieldImmutableErrorMsg))
	}
	return errs
}

// serviceColumns are kube's service columns: NAME, TYPE, CLUSTER-IP,
// EXTERNAL-IP, PORT(S), AGE, and SELECTOR for -o wide.
func serviceColumns() []metav1.TableColumnDefinition {
	doc := corev1.ServiceSpec{}.SwaggerDoc()
	return []metav1.TableColumnDefinition{
		coreNameColumn(),
		{Name: "Type", Type: "string", Description: doc["type"]},
		{Name: "Cluster-IP", Type: "string", Description: doc["clusterIP"]},
		{Name: "External-IP", Type: "string", Description: doc["externalIPs"]},
		{Name: "Port(s)", Type: "string", Description: doc["ports"]},
		coreAgeColumn(),
		{Name: "Selector", Type: "string", Priority: 1, Description: doc["selector"]},
	}
}

// serviceRow is a service's row for serviceColumns. PORT(S) reads
// "80/TCP" or, with a node port, "80:30080/TCP"; EXTERNAL-IP is the
// external IPs, a load balancer's ingress ("<pending>" until it has one)
// or an ExternalName's name.
func serviceRow(svc *corev1.Service) []any {
	clusterIP := "<none>"
	if len(svc.Spec.ClusterIPs) > 0 {
		clusterIP = svc.Spec.ClusterIPs[0]
	} else if svc.Spec.ClusterIP != "" {
		clusterIP = svc.Spec.ClusterIP
	}
	ports := make([]string, len(svc.Spec.Ports))
	for i, p := range svc.Spec.Ports {
		ports[i] = fmt.Sprintf("%d/%s", p.Port, p.Protocol)
		if p.NodePort > 0 {
			ports[i] = fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, p.Protocol)
		}
	}
	return []any{
		svc.Name,
		string(svc.Spec.Type),
		clusterIP,
		serviceExternalIP(svc),
		joinOrNone(ports, ","),
		age(svc.CreationTimestamp),
		labels.FormatLabels(svc.Spec.Selector),
	}
}

// serviceExternalIP is the EXTERNAL-IP cell of a service.
func serviceExternalIP(svc *corev1.Service) string {
	switch svc.Spec.Type {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort:
		return joinOrNone(svc.Spec.ExternalIPs, ",")
	case corev1.ServiceTypeLoadBalancer:
		seen := map[string]bool{}
		var ingress []string
		for _, in := range svc.Status.LoadBalancer.Ingress {
			addr := in.IP
			if addr == "" {
				addr = in.Hostname
			}
			if addr != "" && !seen[addr] {
				seen[addr] = true
				ingress = append(ingress, addr)
			}
		}
		sort.Strings(ingress)
		all := append(ingress, svc.Spec.ExternalIPs...)
		if len(all) == 0 {
			return "<pending>"
		}
		return strings.Join(all, ",")
	case corev1.ServiceTypeExternalName:
		return svc.Spec.ExternalName
	}
	return "<unknown>"
}

// endpointsResource is endpoints: namespaced, short name ep. The endpoints
// controller writes them; the strategy defaults port protocols and checks
// addresses and ports.
func endpointsResource() *Resource {
	return &Resource{
		Version:    "v1",
		Resource:   "endpoints",
		Kind:       "Endpoints",
		ListKind:   "EndpointsList",
		Namespaced: true,
		ShortNames: []string{"ep"},
		New:        func() runtime.Object { return &corev1.Endpoints{} },
		NewList:    func() runtime.Object { return &corev1.EndpointsList{} },

		Default: func(obj runtime.Object) {
			ep := obj.(*corev1.Endpoints)
			for i := range ep.Subsets {
				for j := range ep.Subsets[i].Ports {
					if ep.Subsets[i].Ports[j].Protocol == "" {
						ep.Subsets[i].Ports[j].Protocol = corev1.ProtocolTCP
					}
				}
			}
		},
		Validate:       func(obj runtime.Object) field.ErrorList { return validateEndpoints(obj.(*corev1.Endpoints)) },
		ValidateUpdate: func(obj, _ runtime.Object) field.ErrorList { return validateEndpoints(obj.(*corev1.Endpoints)) },
		Columns: []metav1.TableColumnDefinition{
			coreNameColumn(),
			{Name: "Endpoints", Type: "string", Description: corev1.Endpoints{}.SwaggerDoc()["subsets"]},
			coreAgeColumn(),
		},
		Row: func(obj runtime.Object) []any {
			ep := obj.(*corev1.Endpoints)
			return []any{ep.Name, formatEndpoints(ep), age(ep.CreationTimestamp)}
		},
	}
}

// validateEndpoints checks the name (a DNS subdomain), that every address
// is an IP and every port valid, with names when a subset has several.
func validateEndpoints(ep *corev1.Endpoints) field.ErrorList {
	errs := validateObjectName(ep.Name, apivalidation.NameIsDNSSubdomain)
	for i, ss := range ep.Subsets {
		sp := field.NewPath("subsets").Index(i)
		for j, a := range ss.Addresses {
			errs = append(errs, validateIP(a.IP, sp.Child("addresses").Index(j).Child("ip"))...)
		}
		for j, a := range ss.NotReadyAddresses {
			errs = append(errs, validateIP(a.IP, sp.Child("notReadyAddresses").Index(j).Child("ip"))...)
		}
		for j, p := range ss.Ports {
			pp := sp.Child("ports").Index(j)
			if p.Name == "" && len(ss.Ports) > 1 {
				errs = append(errs, field.Required(pp.Child("name"), ""))
			} else if p.Name != "" {
				errs = append(errs, dnsLabel(p.Name, pp.Child("name"))...)
			}
			errs = append(errs, portNumber(p.Port, pp.Child("port"))...)
			errs = append(errs, validateProtocol(p.Protocol, pp.Child("protocol"))...)
		}
	}
	return errs
}

// formatEndpoints is the ENDPOINTS cell: up to three "ip:port" (or bare IPs
// for a subset without ports), then "+ N more...", or "<none>" when there
// are no subsets.
func formatEndpoints(ep *corev1.Endpoints) string {
	if len(ep.Subsets) == 0 {
		return "<none>"
	}
	const max = 3
	var list []string
	count := 0
	for _, ss := range ep.Subsets {
		if len(ss.Ports) == 0 {
			for _, a := range ss.Addresses {
				if len(list) < max {
					list = append(list, a.IP)
				}
				count++
			}
			continue
		}
		for _, p := range ss.Ports {
			for _, a := range ss.Addresses {
				if len(list) < max {
					list = append(list, net.JoinHostPort(a.IP, strconv.Itoa(int(p.Port))))
				}
				count++
			}
		}
	}
	out := strings.Join(list, ",")
	if count > max {
		out += fmt.Sprintf(" + %d more...", count-max)
	}
	return out
}

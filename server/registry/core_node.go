package registry

import (
	"errors"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// namespaceResource is namespaces: cluster-scoped, short name ns, with a
// status subresource.
//
// A new namespace is Active and carries the "kubernetes" finalizer, which
// the namespace controller removes through the namespaces/finalize
// subresource once the namespace's content is gone; a deleted namespace is
// Terminating until then. Updates of the main resource keep the stored
// spec.finalizers and status, as in Kubernetes.
func namespaceResource() *Resource {
	return &Resource{
		Version:      "v1",
		Resource:     "namespaces",
		Kind:         "Namespace",
		ListKind:     "NamespaceList",
		ShortNames:   []string{"ns"},
		Subresources: []string{"status", "finalize"},
		New:          func() runtime.Object { return &corev1.Namespace{} },
		NewList:      func() runtime.Object { return &corev1.NamespaceList{} },

		Default: func(obj runtime.Object) {
			ns := obj.(*corev1.Namespace)
			if ns.Status.Phase == "" {
				ns.Status.Phase = corev1.NamespaceActive
			}
			// Every namespace is selectable by its name through this label.
			if ns.Name != "" {
				if ns.Labels == nil {
					ns.Labels = map[string]string{}
				}
				ns.Labels[corev1.LabelMetadataName] = ns.Name
			}
		},
		PrepareForCreate: func(obj runtime.Object) {
			ns := obj.(*corev1.Namespace)
			ns.Status = corev1.NamespaceStatus{Phase: corev1.NamespaceActive}
			for _, f := range ns.Spec.Finalizers {
				if f == corev1.FinalizerKubernetes {
					return
				}
			}
			ns.Spec.Finalizers = append(ns.Spec.Finalizers, corev1.FinalizerKubernetes)
		},
		PrepareForUpdate: func(obj, old runtime.Object) {
			ns, o := obj.(*corev1.Namespace), old.(*corev1.Namespace)
			ns.Spec.Finalizers = slices.Clone(o.Spec.Finalizers)
			ns.Status = *o.Status.DeepCopy()
		},
		PrepareForStatusUpdate: func(obj, old runtime.Object) {
			obj.(*corev1.Namespace).Spec = *old.(*corev1.Namespace).Spec.DeepCopy()
		},
		PrepareForFinalize: func(obj, old runtime.Object) {
			ns, o := obj.(*corev1.Namespace), old.(*corev1.Namespace)
			finalizers := ns.Spec.Finalizers
			o.DeepCopyInto(ns)
			ns.Spec.Finalizers = finalizers
		},
		AdmitDelete: func(obj runtime.Object) error {
			// As Kubernetes' NamespaceLifecycle admission: the cluster's
			// own namespaces stay (kube-system holds the control plane's
			// Leases).
			switch obj.(*corev1.Namespace).Name {
			case metav1.NamespaceDefault, metav1.NamespaceSystem, metav1.NamespacePublic:
				return errors.New("this namespace may not be deleted")
			}
			return nil
		},
		Validate:       func(obj runtime.Object) field.ErrorList { return validateNamespace(obj.(*corev1.Namespace)) },
		ValidateUpdate: func(obj, _ runtime.Object) field.ErrorList { return validateNamespace(obj.(*corev1.Namespace)) },
		Fields: func(obj runtime.Object) fields.Set {
			ns := obj.(*corev1.Namespace)
			// "name" is an old alias kube still accepts.
			return fields.Set{"status.phase": string(ns.Status.Phase), "name": ns.Name}
		},
		Columns: []metav1.TableColumnDefinition{
			coreNameColumn(),
			{Name: "Status", Type: "string", Description: "The status of the namespace"},
			coreAgeColumn(),
		},
		Row: func(obj runtime.Object) []any {
			ns := obj.(*corev1.Namespace)
			return []any{ns.Name, string(ns.Status.Phase), age(ns.CreationTimestamp)}
		},
	}
}

// validateNamespace checks that the name is an RFC 1123 label and the
// finalizers are qualified names.
func validateNamespace(ns *corev1.Namespace) field.ErrorList {
	errs := validateObjectName(ns.Name, apivalidation.NameIsDNSLabel)
	for i, f := range ns.Spec.Finalizers {
		errs = append(errs, apivalidation.ValidateFinalizerName(string(f), field.NewPath("spec", "finalizers").Index(i))...)
	}
	return errs
}

// nodeResource is nodes: cluster-scoped, short name no, with a status
// subresource. Node agents create their Node with its status (capacity,
// addresses, conditions), so a create keeps status; main-resource updates
// (cordon, labels, taints) keep the stored status and status updates keep
// the stored spec.
func nodeResource() *Resource {
	return &Resource{
		Version:      "v1",
		Resource:     "nodes",
		Kind:         "Node",
		ListKind:     "NodeList",
		ShortNames:   []string{"no"},
		Subresources: []string{"status"},
		New:          func() runtime.Object { return &corev1.Node{} },
		NewList:      func() runtime.Object { return &corev1.NodeList{} },

		Default: func(obj runtime.Object) {
			st := &obj.(*corev1.Node).Status
			if st.Allocatable == nil && st.Capacity != nil {
				st.Allocatable = st.Capacity.DeepCopy()
			}
		},
		PrepareForUpdate: func(obj, old runtime.Object) {
			obj.(*corev1.Node).Status = *old.(*corev1.Node).Status.DeepCopy()
		},
		PrepareForStatusUpdate: func(obj, old runtime.Object) {
			obj.(*corev1.Node).Spec = *old.(*corev1.Node).Spec.DeepCopy()
		},
		Validate: func(obj runtime.Object) field.ErrorList { return validateNode(obj.(*corev1.Node)) },
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			node, oldNode := obj.(*corev1.Node), old.(*corev1.Node)
			return append(validateNode(node), validateNodeUpdate(node, oldNode)...)
		},
		Fields: func(obj runtime.Object) fields.Set {
			return fields.Set{"spec.unschedulable": strconv.FormatBool(obj.(*corev1.Node).Spec.Unschedulable)}
		},
		Columns: nodeColumns(),
		Row:     func(obj runtime.Object) []any { return nodeRow(obj.(*corev1.Node)) },
	}
}

// validateNode checks the name (a DNS subdomain), the pod CIDRs and the
// taints (key, value, effect, unique by key and effect).
func validateNode(node *corev1.Node) field.ErrorList {
	errs := validateObjectName(node.Name, apivalidation.NameIsDNSSubdomain)
	specPath := field.NewPath("spec")
	if node.Spec.PodCIDR != "" {
		if _, _, err := net.ParseCIDR(node.Spec.PodCIDR); err != nil {
			errs = append(errs, field.Invalid(specPath.Child("podCIDR"), node.Spec.PodCIDR, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"))
		}
	}
	for i, cidr := range node.Spec.PodCIDRs {
		if _, _, err := net.ParseCIDR(cidr); err != nil {
			errs = append(errs, field.Invalid(specPath.Child("podCIDRs").Index(i), cidr, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"))
		}
	}
	if len(node.Spec.PodCIDRs) > 0 && node.Spec.PodCIDR != "" && node.Spec.PodCIDRs[0] != node.Spec.PodCIDR {
		errs = append(errs, field.Invalid(specPath.Child("podCIDRs").Index(0), node.Spec.PodCIDRs[0], "must match spec.podCIDR"))
	}

	seen := map[string]bool{}
	for i, t := range node.Spec.Taints {
		p := specPath.Child("taints").Index(i)
		if t.Key == "" {
			errs = append(errs, field.Required(p.Child("key"), ""))
		} else {
			errs = append(errs, metav1validation.ValidateLabelName(t.Key, p.Child("key"))...)
		}
		for _, msg := range validation.IsValidLabelValue(t.Value) {
			errs = append(errs, field.Invalid(p.Child("value"), t.Value, msg))
		}
		if t.Effect == "" {
			errs = append(errs, field.Required(p.Child("effect"), ""))
		} else {
			errs = append(errs, validateTaintEffect(t.Effect, p.Child("effect"))...)
		}
		key := t.Key + "\x00" + string(t.Effect)
		if seen[key] {
			errs = append(errs, field.Invalid(p, t, "taints must be unique by key and effect pair"))
		}
		seen[key] = true
	}
	return errs
}

// validateNodeUpdate lets spec.podCIDR(s) and spec.providerID be set once,
// never changed afterwards.
func validateNodeUpdate(node, old *corev1.Node) field.ErrorList {
	var errs field.ErrorList
	specPath := field.NewPath("spec")
	if old.Spec.PodCIDR != "" && node.Spec.PodCIDR != old.Spec.PodCIDR {
		errs = append(errs, field.Forbidden(specPath.Child("podCIDR"), "node updates may not change podCIDR except from \"\" to valid"))
	}
	if len(old.Spec.PodCIDRs) > 0 && strings.Join(node.Spec.PodCIDRs, ",") != strings.Join(old.Spec.PodCIDRs, ",") {
		errs = append(errs, field.Forbidden(specPath.Child("podCIDRs"), "node updates may not change podCIDR except from \"\" to valid"))
	}
	if old.Spec.ProviderID != "" && node.Spec.ProviderID != old.Spec.ProviderID {
		errs = append(errs, field.Forbidden(specPath.Child("providerID"), "node updates may not change providerID except from \"\" to valid"))
	}
	return errs
}

// nodeColumns are kube's node columns: NAME, STATUS, ROLES, AGE, VERSION,
// and for -o wide INTERNAL-IP, EXTERNAL-IP, OS-IMAGE, KERNEL-VERSION and
// CONTAINER-RUNTIME.
func nodeColumns() []metav1.TableColumnDefinition {
	info := corev1.NodeSystemInfo{}.SwaggerDoc()
	addresses := corev1.NodeStatus{}.SwaggerDoc()["addresses"]
	return []metav1.TableColumnDefinition{
		coreNameColumn(),
		{Name: "Status", Type: "string", Description: "The status of the node"},
		{Name: "Roles", Type: "string", Description: "The roles of the node"},
		coreAgeColumn(),
		{Name: "Version", Type: "string", Description: info["kubeletVersion"]},
		{Name: "Internal-IP", Type: "string", Priority: 1, Description: addresses},
		{Name: "External-IP", Type: "string", Priority: 1, Description: addresses},
		{Name: "OS-Image", Type: "string", Priority: 1, Description: info["osImage"]},
		{Name: "Kernel-Version", Type: "string", Priority: 1, Description: info["kernelVersion"]},
		{Name: "Container-Runtime", Type: "string", Priority: 1, Description: info["containerRuntimeVersion"]},
	}
}

// nodeRow is a node's row for nodeColumns. STATUS is Ready, NotReady or
// Unknown (no Ready condition), followed by ",SchedulingDisabled" for a
// cordoned node; ROLES come from node-role.kubernetes.io/<role> labels and
// the kubernetes.io/role label.
func nodeRow(node *corev1.Node) []any {
	status := "Unknown"
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			status = "NotReady"
			if c.Status == corev1.ConditionTrue {
				status = "Ready"
			}
		}
	}
	if node.Spec.Unschedulable {
		status += ",SchedulingDisabled"
	}

	roles := map[string]bool{}
	for k, v := range node.Labels {
		switch {
		case strings.HasPrefix(k, "node-role.kubernetes.io/"):
			if role := strings.TrimPrefix(k, "node-role.kubernetes.io/"); role != "" {
				roles[role] = true
			}
		case k == "kubernetes.io/role" && v != "":
			roles[v] = true
		}
	}
	sorted := make([]string, 0, len(roles))
	for r := range roles {
		sorted = append(sorted, r)
	}
	sort.Strings(sorted)

	address := func(t corev1.NodeAddressType) string {
		for _, a := range node.Status.Addresses {
			if a.Type == t {
				return a.Address
			}
		}
		return "<none>"
	}
	unknown := func(s string) string {
		if s == "" {
			return "<unknown>"
		}
		return s
	}
	info := node.Status.NodeInfo
	return []any{
		node.Name,
		status,
		joinOrNone(sorted, ","),
		age(node.CreationTimestamp),
		info.KubeletVersion,
		address(corev1.NodeInternalIP),
		address(corev1.NodeExternalIP),
		unknown(info.OSImage),
		unknown(info.KernelVersion),
		unknown(info.ContainerRuntimeVersion),
	}
}

package registry

import (
	"net"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// coreResources returns the resources of the core API group (v1): namespaces,
// nodes, pods, services, endpoints, configmaps, secrets, events,
// serviceaccounts, persistentvolumeclaims and persistentvolumes, each with the strategy kube-apiserver applies to it.
// Every call builds new values; callers may keep and share the result.
func coreResources() []*Resource {
	return []*Resource{
		namespaceResource(),
		nodeResource(),
		podResource(),
		serviceResource(),
		endpointsResource(),
		configMapResource(),
		secretResource(),
		eventResource(),
		serviceAccountResource(),
		persistentVolumeClaimResource(),
		persistentVolumeResource(),
	}
}

// The files core_*.go hold one resource (or a pair that belongs together)
// each. What they share is below.

// validateObjectName checks metadata.name against the kind's naming rule
// (apivalidation.NameIsDNSSubdomain, NameIsDNSLabel, NameIsDNS1035Label).
// An empty name is left to the server's generic checks (name or
// generateName is required there). Other metadata (labels, annotations,
// owner references, namespace) is the server's generic validation too.
func validateObjectName(name string, rule apivalidation.ValidateNameFunc) field.ErrorList {
	if name == "" {
		return nil
	}
	var errs field.ErrorList
	for _, msg := range rule(name, false) {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), name, msg))
	}
	return errs
}

// coreNameColumn is the first column of nearly every table: the object's name,
// with the "name" format kubectl uses to print kind/name.
func coreNameColumn() metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]}
}

// coreAgeColumn is the AGE column, filled with age(creationTimestamp).
func coreAgeColumn() metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]}
}

// validateProtocol reports an empty port protocol, or one other than TCP,
// UDP and SCTP, at path.
func validateProtocol(p corev1.Protocol, path *field.Path) field.ErrorList {
	switch p {
	case corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP:
		return nil
	case "":
		return field.ErrorList{field.Required(path, "")}
	}
	return field.ErrorList{field.NotSupported(path, p, []corev1.Protocol{corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP})}
}

// validateIP reports at path a value that is not an IPv4 or IPv6 address.
func validateIP(ip string, path *field.Path) field.ErrorList {
	if net.ParseIP(ip) == nil {
		return field.ErrorList{field.Invalid(path, ip, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)")}
	}
	return nil
}

package envvar

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// FieldValue returns the downward API value of a pod metadata field, as a
// downwardAPI volume file or a fieldRef variable shows it:
// metadata.name, metadata.namespace, metadata.uid, metadata.labels and
// metadata.annotations (all of them as sorted key="value" lines), and
// metadata.labels['k'] / metadata.annotations['k'] (one value, empty when
// absent). Status and spec fields, which only environment variables may
// reference, are handled by Resolve.
func FieldValue(pod *corev1.Pod, fieldPath string) (string, error) {
	if path, key, ok := splitSubscript(fieldPath); ok {
		switch path {
		case "metadata.labels":
			if errs := validation.IsQualifiedName(key); len(errs) > 0 {
				return "", fmt.Errorf("invalid key subscript in %s: %s", fieldPath, strings.Join(errs, ";"))
			}
			return pod.Labels[key], nil
		case "metadata.annotations":
			if errs := validation.IsQualifiedName(strings.ToLower(key)); len(errs) > 0 {
				return "", fmt.Errorf("invalid key subscript in %s: %s", fieldPath, strings.Join(errs, ";"))
			}
			return pod.Annotations[key], nil
		default:
			return "", fmt.Errorf("fieldPath %q does not support subscript", fieldPath)
		}
	}
	switch fieldPath {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	}
	return "", fmt.Errorf("unsupported fieldPath: %s", fieldPath)
}

// splitSubscript splits "metadata.labels['app']" into its path and key.
func splitSubscript(fieldPath string) (path, key string, ok bool) {
	rest, found := strings.CutSuffix(fieldPath, "']")
	if !found {
		return "", "", false
	}
	path, key, found = strings.Cut(rest, "['")
	if !found || path == "" {
		return "", "", false
	}
	return path, key, true
}

// formatMap renders a map as sorted key="value" lines, the downward API's
// format for all labels or annotations.
func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	lines := make([]string, 0, len(keys))
	for _, k := range keys {
		lines = append(lines, fmt.Sprintf("%s=%q", k, m[k]))
	}
	return strings.Join(lines, "\n")
}

// ResourceValue returns the downward API value of one of c's resources:
// sel.Resource is limits.cpu, limits.memory, limits.ephemeral-storage,
// requests.cpu, requests.memory, requests.ephemeral-storage or a
// limits./requests.hugepages-<size>. The value is divided by sel.Divisor
// (default 1) and rounded up. A cpu, memory or ephemeral-storage limit the
// container does not set is the node's allocatable amount, as with the
// kubelet.
func ResourceValue(c *corev1.Container, sel *corev1.ResourceFieldSelector, allocatable corev1.ResourceList) (string, error) {
	divisor := sel.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	kind, name, ok := strings.Cut(sel.Resource, ".")
	if !ok || (kind != "limits" && kind != "requests") {
		return "", fmt.Errorf("unsupported container resource: %s", sel.Resource)
	}
	rn := corev1.ResourceName(name)
	switch {
	case rn == corev1.ResourceCPU || rn == corev1.ResourceMemory || rn == corev1.ResourceEphemeralStorage:
	case strings.HasPrefix(name, corev1.ResourceHugePagesPrefix):
	default:
		return "", fmt.Errorf("unsupported container resource: %s", sel.Resource)
	}
	var q resource.Quantity
	if kind == "requests" {
		q = c.Resources.Requests[rn]
	} else {
		q = c.Resources.Limits[rn]
		if q.IsZero() && !strings.HasPrefix(name, corev1.ResourceHugePagesPrefix) {
			// Hugepages are never overcommitted, so only these fall back
			// to what the node can give.
			if a, ok := allocatable[rn]; ok {
				q = a
			}
		}
	}
	var v float64
	if rn == corev1.ResourceCPU {
		if divisor.MilliValue() == 0 {
			return "", fmt.Errorf("invalid divisor %s for %s", divisor.String(), sel.Resource)
		}
		v = math.Ceil(float64(q.MilliValue()) / float64(divisor.MilliValue()))
	} else {
		if divisor.Value() == 0 {
			return "", fmt.Errorf("invalid divisor %s for %s", divisor.String(), sel.Resource)
		}
		v = math.Ceil(float64(q.Value()) / float64(divisor.Value()))
	}
	return strconv.FormatInt(int64(v), 10), nil
}

// ContainerByName returns the container (init, regular or ephemeral) of pod
// called name, or nil.
func ContainerByName(pod *corev1.Pod, name string) *corev1.Container {
	for _, list := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	for i := range pod.Spec.EphemeralContainers {
		if pod.Spec.EphemeralContainers[i].Name == name {
			return (*corev1.Container)(&pod.Spec.EphemeralContainers[i].EphemeralContainerCommon)
		}
	}
	return nil
}

package registry

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// podResource is pods: namespaced, short name po, in category all, with the
// status, binding and log subresources.
//
// Status is the kubelet's: a create starts it at phase Pending with the
// pod's QoS class, a main-resource update keeps the stored status, and a
// status update keeps the stored spec. The binding subresource sets
// spec.nodeName itself and must not run ValidateUpdate (which, like kube's
// pod update validation, forbids changing spec.nodeName).
func podResource() *Resource {
	return &Resource{
		Version:      "v1",
		Resource:     "pods",
		Kind:         "Pod",
		ListKind:     "PodList",
		Namespaced:   true,
		ShortNames:   []string{"po"},
		Categories:   []string{"all"},
		Subresources: []string{"status", "binding", "eviction", "log", "exec", "attach", "portforward"},
		New:          func() runtime.Object { return &corev1.Pod{} },
		NewList:      func() runtime.Object { return &corev1.PodList{} },

		Default: func(obj runtime.Object) { defaultPod(obj.(*corev1.Pod)) },
		PrepareForCreate: func(obj runtime.Object) {
			pod := obj.(*corev1.Pod)
			pod.Status = corev1.PodStatus{Phase: corev1.PodPending, QOSClass: podQOSClass(&pod.Spec)}
		},
		PrepareForUpdate: func(obj, old runtime.Object) {
			obj.(*corev1.Pod).Status = *old.(*corev1.Pod).Status.DeepCopy()
		},
		PrepareForStatusUpdate: func(obj, old runtime.Object) {
			pod, oldPod := obj.(*corev1.Pod), old.(*corev1.Pod)
			pod.Spec = *oldPod.Spec.DeepCopy()
			// The QoS class is fixed at creation; and, as in kube, the
			// status endpoint may not touch owner references (old kubelets
			// used to corrupt them and break garbage collection).
			pod.Status.QOSClass = oldPod.Status.QOSClass
			pod.OwnerReferences = nil
			for _, ref := range oldPod.OwnerReferences {
				pod.OwnerReferences = append(pod.OwnerReferences, *ref.DeepCopy())
			}
		},
		Validate: func(obj runtime.Object) field.ErrorList { return validatePod(obj.(*corev1.Pod)) },
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			pod := obj.(*corev1.Pod)
			return append(validatePod(pod), validatePodUpdate(pod, old.(*corev1.Pod))...)
		},
		Fields: func(obj runtime.Object) fields.Set { return podFields(obj.(*corev1.Pod)) },
		// status.podIP is podIPs[0] in podFields, which defaultPod
		// mirrors into status.podIP on every write.
		PlainFields: []string{"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
			"status.phase", "status.podIP", "status.nominatedNodeName"},
		Columns: podColumns(),
		Row:     func(obj runtime.Object) []any { return podRow(obj.(*corev1.Pod)) },
	}
}

// podFields is the field-selector set of a pod (beyond metadata), the same
// keys kube-apiserver offers: the node agent watches spec.nodeName, the
// scheduler spec.schedulerName and status.phase.
func podFields(pod *corev1.Pod) fields.Set {
	podIP := pod.Status.PodIP
	if len(pod.Status.PodIPs) > 0 {
		podIP = pod.Status.PodIPs[0].IP
	}
	return fields.Set{
		"spec.nodeName":            pod.Spec.NodeName,
		"spec.restartPolicy":       string(pod.Spec.RestartPolicy),
		"spec.schedulerName":       pod.Spec.SchedulerName,
		"spec.serviceAccountName":  pod.Spec.ServiceAccountName,
		"spec.hostNetwork":         strconv.FormatBool(pod.Spec.HostNetwork),
		"status.phase":             string(pod.Status.Phase),
		"status.podIP":             podIP,
		"status.nominatedNodeName": pod.Status.NominatedNodeName,
	}
}

// defaultPod sets what kube's v1 defaulting sets on a pod, so that a pod
// read back carries the same values it would in a real cluster: the pod
// spec defaults every pod template also gets (defaultPodSpec, podspec.go),
// and those kube gives Pod objects only: enableServiceLinks true, requests
// copied from limits where unset, host ports equal to container ports
// under hostNetwork, serviceAccount mirroring serviceAccountName, and
// podIP/hostIP mirroring the first of podIPs/hostIPs. It is idempotent.
func defaultPod(pod *corev1.Pod) {
	spec := &pod.Spec
	defaultPodSpec(spec)
	if spec.EnableServiceLinks == nil {
		links := corev1.DefaultEnableServiceLinks
		spec.EnableServiceLinks = &links
	}
	// serviceAccount is the deprecated alias of serviceAccountName; kube's
	// conversion keeps the two equal.
	if spec.ServiceAccountName == "" {
		spec.ServiceAccountName = spec.DeprecatedServiceAccount
	}
	spec.DeprecatedServiceAccount = spec.ServiceAccountName
	for _, containers := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range containers {
			defaultPodContainer(&containers[i], spec.HostNetwork)
		}
	}

	st := &pod.Status
	if len(st.PodIPs) == 0 && st.PodIP != "" {
		st.PodIPs = []corev1.PodIP{{IP: st.PodIP}}
	} else if st.PodIP == "" && len(st.PodIPs) > 0 {
		st.PodIP = st.PodIPs[0].IP
	}
	if len(st.HostIPs) == 0 && st.HostIP != "" {
		st.HostIPs = []corev1.HostIP{{IP: st.HostIP}}
	} else if st.HostIP == "" && len(st.HostIPs) > 0 {
		st.HostIP = st.HostIPs[0].IP
	}
}

// defaultPodContainer sets the container defaults of Pod objects only:
// requests default to the limits, and under hostNetwork a port's hostPort
// to its containerPort.
func defaultPodContainer(c *corev1.Container, hostNetwork bool) {
	if hostNetwork {
		for i := range c.Ports {
			if c.Ports[i].HostPort == 0 {
				c.Ports[i].HostPort = c.Ports[i].ContainerPort
			}
		}
	}
	if len(c.Resources.Limits) > 0 {
		if c.Resources.Requests == nil {
			c.Resources.Requests = corev1.ResourceList{}
		}
		for name, limit := range c.Resources.Limits {
			if _, ok := c.Resources.Requests[name]; !ok {
				c.Resources.Requests[name] = limit.DeepCopy()
			}
		}
	}
}

// podQOSClass computes a pod's quality-of-service class the way the kubelet
// and kube-apiserver do: BestEffort without any cpu or memory request or
// limit; Guaranteed when every container has cpu and memory limits and the
// pod's requests equal its limits; Burstable otherwise. Pod-level
// resources, when set, decide instead of the containers'.
func podQOSClass(spec *corev1.PodSpec) corev1.PodQOSClass {
	requests, limits := corev1.ResourceList{}, corev1.ResourceList{}
	guaranteed := true
	add := func(sum corev1.ResourceList, rl corev1.ResourceList) (found map[corev1.ResourceName]bool) {
		found = map[corev1.ResourceName]bool{}
		for name, q := range rl {
			if name != corev1.ResourceCPU && name != corev1.ResourceMemory || q.Sign() <= 0 {
				continue
			}
			found[name] = true
			total := q.DeepCopy()
			if prev, ok := sum[name]; ok {
				total.Add(prev)
			}
			sum[name] = total
		}
		return found
	}
	countLimits := func(r corev1.ResourceRequirements) {
		add(requests, r.Requests)
		if found := add(limits, r.Limits); !found[corev1.ResourceCPU] || !found[corev1.ResourceMemory] {
			guaranteed = false
		}
	}
	if podLevelResources(spec.Resources) {
		countLimits(*spec.Resources)
	} else {
		for _, c := range append(append([]corev1.Container{}, spec.Containers...), spec.InitContainers...) {
			countLimits(c.Resources)
		}
	}
	if len(requests) == 0 && len(limits) == 0 {
		return corev1.PodQOSBestEffort
	}
	if guaranteed && len(requests) == len(limits) {
		for name, req := range requests {
			if lim, ok := limits[name]; !ok || lim.Cmp(req) != 0 {
				guaranteed = false
			}
		}
		if guaranteed {
			return corev1.PodQOSGuaranteed
		}
	}
	return corev1.PodQOSBurstable
}

// podLevelResources reports whether pod-level resources name cpu or memory.
func podLevelResources(r *corev1.ResourceRequirements) bool {
	if r == nil {
		return false
	}
	for _, rl := range []corev1.ResourceList{r.Requests, r.Limits} {
		for name := range rl {
			if name == corev1.ResourceCPU || name == corev1.ResourceMemory {
				return true
			}
		}
	}
	return false
}

package statefulset

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/kubectl/pkg/util/podutils"

	"github.com/sqlkube/sqlkube/controllers/ownership"
)

// This file holds what a StatefulSet's pods are made of: their names and
// ordinals, their labels and volumes, their claims, the revision of the
// template, and the predicates the update algorithm reads.

// ordinalOf returns the ordinal of pod as a member of set: n when the pod
// is named "<set>-<n>" exactly (no sign, no leading zeros). ok is false for
// any other name, so that two names never map to one ordinal.
func ordinalOf(set *appsv1.StatefulSet, pod *corev1.Pod) (int, bool) {
	suffix, ok := strings.CutPrefix(pod.Name, set.Name+"-")
	if !ok || suffix == "" {
		return 0, false
	}
	n, err := strconv.ParseInt(suffix, 10, 32)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != suffix {
		return 0, false
	}
	return int(n), true
}

// podName returns the name of set's pod with ordinal n.
func podName(set *appsv1.StatefulSet, n int) string { return fmt.Sprintf("%s-%d", set.Name, n) }

// claimName returns the name of the claim made from template for set's
// pod with ordinal n: "<template>-<set>-<n>".
func claimName(set *appsv1.StatefulSet, template string, n int) string {
	return fmt.Sprintf("%s-%s-%d", template, set.Name, n)
}

// replicas returns spec.replicas (1 when unset, as the API server
// defaults it).
func replicas(set *appsv1.StatefulSet) int {
	if set.Spec.Replicas == nil {
		return 1
	}
	return int(*set.Spec.Replicas)
}

// startOrdinal returns spec.ordinals.start, the first ordinal in use.
func startOrdinal(set *appsv1.StatefulSet) int {
	if set.Spec.Ordinals == nil {
		return 0
	}
	return int(set.Spec.Ordinals.Start)
}

// inRange reports whether ordinal n is one set should have a pod for.
func inRange(set *appsv1.StatefulSet, n int) bool {
	start := startOrdinal(set)
	return n >= start && n < start+replicas(set)
}

// templateHash returns a hash of set's pod template: FNV-1a over its JSON
// form, written like Kubernetes' controller.ComputeHash (the decimal sum
// through rand.SafeEncodeString). The same template always gives the same
// hash, so a template changed back is the revision it was before.
func templateHash(t *corev1.PodTemplateSpec) string {
	b, err := json.Marshal(t)
	if err != nil {
		// A PodTemplateSpec always marshals.
		panic(fmt.Sprintf("marshal pod template: %v", err))
	}
	h := fnv.New32a()
	h.Write(b)
	return rand.SafeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10))
}

// maxLabelValue is the longest value a label may have.
const maxLabelValue = 63

// revisionName returns the name of the revision set's current template
// is: "<set>-<hash>", as Kubernetes names the ControllerRevision. It is
// also the pods' controller-revision-hash label, so where Kubernetes
// would make a label value too long (a set name over 52 characters) the
// name is cut to fit.
func revisionName(set *appsv1.StatefulSet) string {
	hash := templateHash(&set.Spec.Template)
	prefix := set.Name
	if n := maxLabelValue - 1 - len(hash); len(prefix) > n {
		prefix = strings.TrimRight(prefix[:n], "-.")
	}
	return prefix + "-" + hash
}

// revisionOf returns the revision pod was made from.
func revisionOf(pod *corev1.Pod) string { return pod.Labels[appsv1.ControllerRevisionHashLabelKey] }

// newPod returns set's pod with ordinal n, made from the current
// template at revision rev: named "<set>-<n>", with the identity labels,
// hostname and subdomain, and a volume per claim template.
func newPod(set *appsv1.StatefulSet, n int, rev string) *corev1.Pod {
	pod := ownership.PodFromTemplate(&set.Spec.Template, set, controllerKind)
	pod.GenerateName = ""
	pod.Name = podName(set, n)
	setIdentityLabels(set, pod, n)
	pod.Labels[appsv1.ControllerRevisionHashLabelKey] = rev
	pod.Spec.Hostname = pod.Name
	pod.Spec.Subdomain = set.Spec.ServiceName
	pod.Spec.Volumes = claimVolumes(set, n, pod.Spec.Volumes)
	return pod
}

// setIdentityLabels sets the labels that give pod its identity in set.
func setIdentityLabels(set *appsv1.StatefulSet, pod *corev1.Pod, n int) {
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[appsv1.StatefulSetPodNameLabel] = podName(set, n)
	pod.Labels[appsv1.PodIndexLabel] = strconv.Itoa(n)
}

// identityMatches reports whether pod, set's pod with ordinal n, has its
// identity labels.
func identityMatches(set *appsv1.StatefulSet, pod *corev1.Pod, n int) bool {
	return pod.Labels[appsv1.StatefulSetPodNameLabel] == podName(set, n) &&
		pod.Labels[appsv1.PodIndexLabel] == strconv.Itoa(n)
}

// claimVolumes returns volumes with one volume per claim template, named
// after the template and pointing to the claim of ordinal n, first, in
// template order; a volume of the template with the same name is
// replaced.
func claimVolumes(set *appsv1.StatefulSet, n int, volumes []corev1.Volume) []corev1.Volume {
	if len(set.Spec.VolumeClaimTemplates) == 0 {
		return volumes
	}
	out := make([]corev1.Volume, 0, len(set.Spec.VolumeClaimTemplates)+len(volumes))
	names := map[string]bool{}
	for _, t := range set.Spec.VolumeClaimTemplates {
		names[t.Name] = true
		out = append(out, corev1.Volume{
			Name: t.Name,
			VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{
				ClaimName: claimName(set, t.Name, n),
			}},
		})
	}
	for _, v := range volumes {
		if !names[v.Name] {
			out = append(out, v)
		}
	}
	return out
}

// newClaims returns the claims set's pod with ordinal n uses, one per
// claim template, in template order: the template's spec, its labels
// with the set's selector matchLabels over them (as Kubernetes), and its
// annotations.
func newClaims(set *appsv1.StatefulSet, n int) []*corev1.PersistentVolumeClaim {
	out := make([]*corev1.PersistentVolumeClaim, 0, len(set.Spec.VolumeClaimTemplates))
	for _, t := range set.Spec.VolumeClaimTemplates {
		lbls := make(map[string]string, len(t.Labels))
		for k, v := range t.Labels {
			lbls[k] = v
		}
		if set.Spec.Selector != nil {
			for k, v := range set.Spec.Selector.MatchLabels {
				lbls[k] = v
			}
		}
		c := t.DeepCopy()
		out = append(out, &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{
				Name:        claimName(set, t.Name, n),
				Namespace:   set.Namespace,
				Labels:      lbls,
				Annotations: c.Annotations,
				Finalizers:  c.Finalizers,
			},
			Spec: c.Spec,
		})
	}
	return out
}

// runningAndReady reports whether pod is Running with the Ready
// condition.
func runningAndReady(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodRunning && podutils.IsPodReady(pod)
}

// available reports whether pod is Running and has been Ready for
// minReadySeconds at now.
func available(pod *corev1.Pod, minReadySeconds int32, now metav1.Time) bool {
	return runningAndReady(pod) && podutils.IsPodAvailable(pod, minReadySeconds, now)
}

// terminating reports whether pod is being deleted.
func terminating(pod *corev1.Pod) bool { return pod.DeletionTimestamp != nil }

// healthy reports whether pod is Running and Ready and not being deleted.
func healthy(pod *corev1.Pod) bool { return runningAndReady(pod) && !terminating(pod) }

// finished reports whether pod's containers stopped for good (Failed or
// Succeeded): a StatefulSet replaces it whatever the exit code was.
func finished(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded
}

package daemonset

import (
	"encoding/json"
	"hash/fnv"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	schedulingcorev1 "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"
)

// Taint keys daemon pods tolerate (k8s.io/api/core/v1 names them).
var daemonTolerations = []corev1.Toleration{
	{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
	{Key: corev1.TaintNodeDiskPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodeMemoryPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodePIDPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
}

// withDaemonTolerations returns a copy of t with the tolerations every
// daemon pod has added, unless t has one with the same key and effect.
func withDaemonTolerations(t []corev1.Toleration) []corev1.Toleration {
	out := make([]corev1.Toleration, len(t), len(t)+len(daemonTolerations))
	copy(out, t)
	for _, want := range daemonTolerations {
		found := false
		for _, have := range t {
			if have.Key == want.Key && (have.Effect == want.Effect || have.Effect == "") {
				found = true
				break
			}
		}
		if !found {
			out = append(out, want)
		}
	}
	return out
}

// placement says whether ds wants a pod on node (shouldRun) and whether a
// daemon pod already there may stay (shouldContinue). A node fails both
// when the template names another node, its nodeSelector or required node
// affinity does not match, or it has an untolerated NoExecute taint; an
// untolerated NoSchedule taint only stops new pods.
func placement(ds *appsv1.DaemonSet, node *corev1.Node) (shouldRun, shouldContinue bool) {
	spec := &ds.Spec.Template.Spec
	if spec.NodeName != "" && spec.NodeName != node.Name {
		return false, false
	}
	fits, err := nodeaffinity.NewRequiredNodeAffinity(spec.NodeSelector, spec.Affinity).Match(node)
	if err != nil || !fits {
		return false, false
	}
	tolerations := withDaemonTolerations(spec.Tolerations)
	untolerated := func(effect corev1.TaintEffect) bool {
		_, found := schedulingcorev1.FindMatchingUntoleratedTaint(klog.Background(), node.Spec.Taints, tolerations,
			func(t *corev1.Taint) bool { return t.Effect == effect }, true)
		return found
	}
	if untolerated(corev1.TaintEffectNoExecute) {
		return false, false
	}
	if untolerated(corev1.TaintEffectNoSchedule) {
		return false, true
	}
	return true, true
}

// templateHash names a pod template revision: the value of the
// controller-revision-hash label of the pods made from it.
func templateHash(t *corev1.PodTemplateSpec, collisionCount *int32) string {
	h := fnv.New32a()
	b, _ := json.Marshal(t) // a typed struct always marshals
	h.Write(b)
	if collisionCount != nil {
		h.Write([]byte(strconv.Itoa(int(*collisionCount))))
	}
	return rand.SafeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10))
}

package server

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
)

// addDefaultTolerations gives a new pod the not-ready and unreachable
// NoExecute tolerations, for the configured number of seconds, unless it
// already tolerates those taints: Kubernetes' DefaultTolerationSeconds
// admission. The node lifecycle controller evicts a pod from a failed node
// once they expire, so that its controller replaces it elsewhere.
func (s *Server) addDefaultTolerations(pod *corev1.Pod) {
	for _, d := range []struct {
		key     string
		seconds int64
	}{
		{corev1.TaintNodeNotReady, s.cfg.NotReadyTolerationSeconds},
		{corev1.TaintNodeUnreachable, s.cfg.UnreachableTolerationSeconds},
	} {
		taint := corev1.Taint{Key: d.key, Effect: corev1.TaintEffectNoExecute}
		tolerated := false
		for i := range pod.Spec.Tolerations {
			if pod.Spec.Tolerations[i].ToleratesTaint(klog.Background(), &taint, false) {
				tolerated = true
				break
			}
		}
		if !tolerated {
			pod.Spec.Tolerations = append(pod.Spec.Tolerations, corev1.Toleration{
				Key: d.key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute,
				TolerationSeconds: new(d.seconds),
			})
		}
	}
}

package ownership

import (
	"errors"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// PodFromTemplate returns the pod owner, of kind, creates from template: a
// deep copy of the template's labels (always a map of its own, so the
// caller may add to it), annotations, finalizers and spec, a generated
// name "<owner>-", and owner as its controller (with blockOwnerDeletion).
func PodFromTemplate(template *corev1.PodTemplateSpec, owner metav1.Object, kind schema.GroupVersionKind) *corev1.Pod {
	t := template.DeepCopy()
	lbls := make(map[string]string, len(t.Labels)+4)
	for k, v := range t.Labels {
		lbls[k] = v
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    owner.GetName() + "-",
			Namespace:       owner.GetNamespace(),
			Labels:          lbls,
			Annotations:     t.Annotations,
			Finalizers:      t.Finalizers,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(owner, kind)},
		},
		Spec: t.Spec,
	}
}

// SlowStart calls create(i) for i from 0 to n-1 in batches of 1, 2, 4, ...
// calls (at most maxBatch), the calls of a batch in parallel, and starts no
// batch after one with a failure. A template the API rejects thus costs
// one request instead of n. It returns how many calls succeeded and the
// joined errors of the failed batch.
//
// (The replicaset controller, which creates up to hundreds of pods per
// sync, has its own variant that moves to a fixed pool of workers once
// batches are large, so that no batch waits for its slowest call.)
func SlowStart(n, maxBatch int, create func(i int) error) (int, error) {
	maxBatch = max(maxBatch, 1)
	succeeded := 0
	for start, batch := 0, 1; start < n; batch = min(2*batch, maxBatch) {
		end := min(start+batch, n)
		errs := make([]error, end-start)
		var wg sync.WaitGroup
		for i := start; i < end; i++ {
			wg.Go(func() { errs[i-start] = create(i) })
		}
		wg.Wait()
		for _, err := range errs {
			if err == nil {
				succeeded++
			}
		}
		start = end
		if err := errors.Join(errs...); err != nil {
			return succeeded, err
		}
	}
	return succeeded, nil
}

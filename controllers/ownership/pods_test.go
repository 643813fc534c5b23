package ownership

import (
	"errors"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestSlowStart(t *testing.T) {
	for _, tc := range []struct {
		name      string
		n         int
		failFrom  int // calls with i >= failFrom fail
		wantOK    int
		wantCalls int
	}{
		{"all succeed", 10, 100, 10, 10},
		{"none", 0, 100, 0, 0},
		{"first fails", 10, 0, 0, 1},
		{"fails in the third batch", 20, 4, 4, 7}, // batches 1, 2, 4: the third is run whole
		{"capped batches", 20, 100, 20, 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			calls := 0
			ok, err := SlowStart(tc.n, 4, func(i int) error {
				mu.Lock()
				calls++
				mu.Unlock()
				if i >= tc.failFrom {
					return errors.New("rejected")
				}
				return nil
			})
			if ok != tc.wantOK || calls != tc.wantCalls || (err != nil) != (tc.wantOK < tc.n) {
				t.Errorf("SlowStart = %d, %v after %d calls; want %d after %d", ok, err, calls, tc.wantOK, tc.wantCalls)
			}
		})
	}
}

func TestPodFromTemplate(t *testing.T) {
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "web-uid"},
		Spec: appsv1.ReplicaSetSpec{Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"a": "b"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}},
		}},
	}
	pod := PodFromTemplate(&rs.Spec.Template, rs, rsKind)
	pod.Labels["extra"] = "x"
	if _, ok := rs.Spec.Template.Labels["extra"]; ok {
		t.Error("the pod's labels are the template's map")
	}
	ref := metav1.GetControllerOf(pod)
	if pod.GenerateName != "web-" || pod.Namespace != "default" || pod.Labels["app"] != "web" || pod.Annotations["a"] != "b" ||
		pod.Spec.Containers[0].Image != "nginx" || ref == nil || ref.UID != rs.UID || ref.Kind != "ReplicaSet" {
		t.Errorf("pod = %+v", pod)
	}
}

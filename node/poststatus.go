package node

import (
	"context"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// PostStatus replaces pod's status with status, provided the pod stored
// under pod's name still has pod's UID: one JSON patch that tests the UID
// and replaces the status, so a pod deleted and created again under the
// same name never gets the old one's status. It reports gone when the pod
// is not there any more or was replaced; that is not an error.
func PostStatus(ctx context.Context, client kubernetes.Interface, pod *corev1.Pod, status corev1.PodStatus) (gone bool, err error) {
	patch, err := json.Marshal([]map[string]any{
		{"op": "test", "path": "/metadata/uid", "value": pod.UID},
		{"op": "replace", "path": "/status", "value": status},
	})
	if err != nil {
		return false, fmt.Errorf("encode status of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	pods := client.CoreV1().Pods(pod.Namespace)
	_, err = pods.Patch(ctx, pod.Name, types.JSONPatchType, patch, metav1.PatchOptions{}, "status")
	switch {
	case err == nil:
		return false, nil
	case apierrors.IsNotFound(err):
		return true, nil
	case apierrors.IsBadRequest(err):
		// A failed test: the name now holds another pod, or none.
		cur, gerr := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(gerr) || gerr == nil && cur.UID != pod.UID {
			return true, nil
		}
	}
	return false, fmt.Errorf("post status %s of pod %s/%s: %w", status.Phase, pod.Namespace, pod.Name, err)
}

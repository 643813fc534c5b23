package server_test

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestPodConnectSubresources: logs, exec, attach and port forwarding
// answer what kube-apiserver checks itself (the pod, its container, its
// node) before reaching the node's agent: n1 has no Node object.
func TestPodConnectSubresources(t *testing.T) {
	ts, _ := startWithUsers(t)
	ctx := context.Background()
	pods := []*corev1.Pod{
		{ObjectMeta: metav1.ObjectMeta{Name: "pending"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "bound"}, Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "a", Image: "busybox"}, {Name: "b", Image: "busybox"}}}},
	}
	for _, p := range pods {
		if _, err := ts.client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	const base = "/api/v1/namespaces/default/pods/"
	for _, tc := range []struct {
		name, method, path, token string
		code                      int
		want                      string
	}{
		{"log of a missing pod", "GET", base + "nope/log", "", 404, `pods \"nope\" not found`},
		{"log of an unscheduled pod", "GET", base + "pending/log", "", 400, "pod pending does not have a host assigned"},
		{"log of a container the pod lacks", "GET", base + "pending/log?container=x", "", 400, "container x is not valid for pod pending"},
		{"log of a pod of two containers, none named", "GET", base + "bound/log", "", 400, "a container name must be specified for pod bound, choose one of: [a b]"},
		{"log of a bound pod, its node missing", "GET", base + "bound/log?container=b", "", 404, `nodes \"n1\" not found`},
		{"log, read-only user", "GET", base + "bound/log?container=b", "ro-token", 404, `nodes \"n1\" not found`},
		{"exec of an unscheduled pod", "POST", base + "pending/exec?command=ls&stdout=true", "", 400, "does not have a host assigned"},
		{"exec of a bound pod", "POST", base + "bound/exec?container=a&command=ls&stdout=true", "", 404, `nodes \"n1\" not found`},
		{"exec without a command", "POST", base + "bound/exec?container=a&stdout=true", "", 400, "you must specify a command"},
		{"exec, read-only user", "POST", base + "bound/exec?container=a&command=ls", "ro-token", 403, "cannot create"},
		{"exec over a WebSocket GET, read-only user", "GET", base + "bound/exec?container=a&command=ls", "ro-token", 403, "cannot create"},
		{"attach of a bound pod", "POST", base + "bound/attach?container=a&stdout=true", "", 404, `nodes \"n1\" not found`},
		{"port forwarding of a bound pod", "POST", base + "bound/portforward?ports=80", "", 404, `nodes \"n1\" not found`},
		{"a subresource pods do not have", "GET", base + "bound/shell", "", 404, "NotFound"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := ts.raw(t, tc.method, tc.path, "", nil, tc.token)
			if code != tc.code || !strings.Contains(string(body), tc.want) || !strings.Contains(string(body), `"kind":"Status"`) {
				t.Fatalf("got %d %.300s, want %d with %q", code, body, tc.code, tc.want)
			}
		})
	}
}

package registry

import (
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestAppsTables(t *testing.T) {
	created := metav1.NewTime(time.Now().Add(-5 * 24 * time.Hour))
	twoContainers := func() corev1.PodTemplateSpec {
		tmpl := webTemplate()
		tmpl.Spec.Containers = append(tmpl.Spec.Containers, corev1.Container{Name: "sidecar", Image: "busybox"})
		tmpl.Spec.NodeSelector = map[string]string{"disk": "ssd"}
		return tmpl
	}
	meta := metav1.ObjectMeta{Name: "web", CreationTimestamp: created}
	tests := []struct {
		resource string
		obj      runtime.Object
		want     map[string]any // column name → cell
	}{{
		resource: "deployments",
		obj: &appsv1.Deployment{ObjectMeta: meta,
			Spec:   appsv1.DeploymentSpec{Replicas: new(int32(3)), Selector: webSelector(), Template: twoContainers()},
			Status: appsv1.DeploymentStatus{ReadyReplicas: 2, UpdatedReplicas: 3, AvailableReplicas: 2}},
		want: map[string]any{"Name": "web", "Ready": "2/3", "Up-to-date": int64(3), "Available": int64(2), "Age": "5d",
			"Containers": "web,sidecar", "Images": "nginx:1.27,busybox", "Selector": "app=web"},
	}, {
		resource: "replicasets",
		obj: &appsv1.ReplicaSet{ObjectMeta: meta,
			Spec:   appsv1.ReplicaSetSpec{Replicas: new(int32(3)), Selector: webSelector(), Template: twoContainers()},
			Status: appsv1.ReplicaSetStatus{Replicas: 3, ReadyReplicas: 1}},
		want: map[string]any{"Name": "web", "Desired": int64(3), "Current": int64(3), "Ready": int64(1), "Age": "5d",
			"Containers": "web,sidecar", "Images": "nginx:1.27,busybox", "Selector": "app=web"},
	}, {
		resource: "daemonsets",
		obj: &appsv1.DaemonSet{ObjectMeta: meta,
			Spec: appsv1.DaemonSetSpec{Selector: webSelector(), Template: twoContainers()},
			Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 4, CurrentNumberScheduled: 4, NumberReady: 3,
				UpdatedNumberScheduled: 2, NumberAvailable: 3}},
		want: map[string]any{"Name": "web", "Desired": int64(4), "Current": int64(4), "Ready": int64(3), "Up-to-date": int64(2),
			"Available": int64(3), "Node Selector": "disk=ssd", "Age": "5d", "Containers": "web,sidecar", "Selector": "app=web"},
	}, {
		resource: "daemonsets",
		obj:      &appsv1.DaemonSet{ObjectMeta: meta, Spec: appsv1.DaemonSetSpec{Template: webTemplate()}},
		want:     map[string]any{"Node Selector": "<none>", "Selector": "<none>"},
	}, {
		resource: "statefulsets",
		obj: &appsv1.StatefulSet{ObjectMeta: meta,
			Spec:   appsv1.StatefulSetSpec{Replicas: new(int32(3)), Template: twoContainers()},
			Status: appsv1.StatefulSetStatus{ReadyReplicas: 1}},
		want: map[string]any{"Name": "web", "Ready": "1/3", "Age": "5d", "Containers": "web,sidecar", "Images": "nginx:1.27,busybox"},
	}}
	for _, tt := range tests {
		t.Run(tt.resource, func(t *testing.T) {
			res := appsResource(t, tt.resource)
			row := res.Row(tt.obj)
			if len(row) != len(res.Columns) {
				t.Fatalf("row has %d cells for %d columns", len(row), len(res.Columns))
			}
			for i, col := range res.Columns {
				want, ok := tt.want[col.Name]
				if ok && row[i] != want {
					t.Errorf("%s = %#v, want %#v", col.Name, row[i], want)
				}
			}
		})
	}
}

func TestAppsColumns(t *testing.T) {
	// name:type, with a trailing "*" for -o wide columns (priority 1).
	tests := map[string][]string{
		"deployments":  {"Name:string", "Ready:string", "Up-to-date:integer", "Available:integer", "Age:string", "Containers:string*", "Images:string*", "Selector:string*"},
		"replicasets":  {"Name:string", "Desired:integer", "Current:integer", "Ready:integer", "Age:string", "Containers:string*", "Images:string*", "Selector:string*"},
		"daemonsets":   {"Name:string", "Desired:integer", "Current:integer", "Ready:integer", "Up-to-date:integer", "Available:integer", "Node Selector:string", "Age:string", "Containers:string*", "Images:string*", "Selector:string*"},
		"statefulsets": {"Name:string", "Ready:string", "Age:string", "Containers:string*", "Images:string*"},
	}
	for resource, want := range tests {
		t.Run(resource, func(t *testing.T) {
			var got []string
			for _, c := range appsResource(t, resource).Columns {
				s := c.Name + ":" + c.Type
				if c.Priority == 1 {
					s += "*"
				}
				got = append(got, s)
			}
			if !slices.Equal(got, want) {
				t.Errorf("columns = %q, want %q", got, want)
			}
		})
	}
}

package registry

import (
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestDeploymentValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*appsv1.Deployment)
		want   []string // "type field", sorted
	}{
		{name: "valid", want: []string{}},
		{
			name:   "selector does not match template labels",
			mutate: func(d *appsv1.Deployment) { d.Spec.Template.Labels = map[string]string{"app": "api"} },
			want:   []string{"FieldValueInvalid spec.template.metadata.labels"},
		},
		{
			name:   "missing selector",
			mutate: func(d *appsv1.Deployment) { d.Spec.Selector = nil },
			want:   []string{"FieldValueRequired spec.selector"},
		},
		{
			name:   "empty selector",
			mutate: func(d *appsv1.Deployment) { d.Spec.Selector = &metav1.LabelSelector{} },
			want:   []string{"FieldValueInvalid spec.selector"},
		},
		{
			name:   "container name not a DNS label",
			mutate: func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Name = "Web_1" },
			want:   []string{"FieldValueInvalid spec.template.spec.containers[0].name"},
		},
		{
			name: "duplicate container name",
			mutate: func(d *appsv1.Deployment) {
				d.Spec.Template.Spec.Containers = append(d.Spec.Template.Spec.Containers, corev1.Container{Name: "web", Image: "busybox"})
			},
			want: []string{"FieldValueDuplicate spec.template.spec.containers[1].name"},
		},
		{
			name:   "no containers",
			mutate: func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers = nil },
			want:   []string{"FieldValueRequired spec.template.spec.containers"},
		},
		{
			name:   "container without image",
			mutate: func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "" },
			want:   []string{"FieldValueRequired spec.template.spec.containers[0].image"},
		},
		{
			name:   "negative replicas",
			mutate: func(d *appsv1.Deployment) { d.Spec.Replicas = new(int32(-1)) },
			want:   []string{"FieldValueInvalid spec.replicas"},
		},
		{
			name: "maxSurge and maxUnavailable both 0",
			mutate: func(d *appsv1.Deployment) {
				d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{
					MaxSurge: new(intstr.FromInt32(0)), MaxUnavailable: new(intstr.FromString("0%")),
				}
			},
			want: []string{"FieldValueInvalid spec.strategy.rollingUpdate.maxUnavailable"},
		},
		{
			name: "maxUnavailable over 100%",
			mutate: func(d *appsv1.Deployment) {
				d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxUnavailable: new(intstr.FromString("150%"))}
			},
			want: []string{"FieldValueInvalid spec.strategy.rollingUpdate.maxUnavailable"},
		},
		{
			name: "Recreate with rollingUpdate",
			mutate: func(d *appsv1.Deployment) {
				d.Spec.Strategy = appsv1.DeploymentStrategy{
					Type:          appsv1.RecreateDeploymentStrategyType,
					RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: new(intstr.FromInt32(1))},
				}
			},
			want: []string{"FieldValueForbidden spec.strategy.rollingUpdate"},
		},
		{
			name:   "pods of a deployment must restart Always",
			mutate: func(d *appsv1.Deployment) { d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever },
			want:   []string{"FieldValueNotSupported spec.template.spec.restartPolicy"},
		},
		{
			name:   "name not a DNS subdomain",
			mutate: func(d *appsv1.Deployment) { d.Name = "Web_App" },
			want:   []string{"FieldValueInvalid metadata.name"},
		},
		{
			name: "volume mount of an undeclared volume",
			mutate: func(d *appsv1.Deployment) {
				d.Spec.Template.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
			},
			want: []string{"FieldValueNotFound spec.template.spec.containers[0].volumeMounts[0].name"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDeployment(tt.mutate)
			got := errorFields(appsResource(t, "deployments").Validate(d))
			if !slices.Equal(got, tt.want) {
				t.Errorf("errors = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestWorkloadValidate(t *testing.T) {
	tests := []struct {
		name     string
		resource string
		obj      runtime.Object
		want     []string
	}{{
		name:     "valid replicaset",
		resource: "replicasets",
		obj:      &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-5d4f"}, Spec: appsv1.ReplicaSetSpec{Selector: webSelector(), Template: webTemplate()}},
		want:     []string{},
	}, {
		name:     "replicaset selector not matching",
		resource: "replicasets",
		obj: &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: appsv1.ReplicaSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "other"}}, Template: webTemplate(),
		}},
		want: []string{"FieldValueInvalid spec.template.metadata.labels"},
	}, {
		name:     "valid daemonset",
		resource: "daemonsets",
		obj:      &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent"}, Spec: appsv1.DaemonSetSpec{Selector: webSelector(), Template: webTemplate()}},
		want:     []string{},
	}, {
		name:     "daemonset without selector",
		resource: "daemonsets",
		obj:      &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent"}, Spec: appsv1.DaemonSetSpec{Template: webTemplate()}},
		want:     []string{"FieldValueRequired spec.selector"},
	}, {
		name:     "daemonset surging and leaving pods unavailable at once",
		resource: "daemonsets",
		obj: &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent"}, Spec: appsv1.DaemonSetSpec{
			Selector: webSelector(), Template: webTemplate(),
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxSurge: new(intstr.FromInt32(1))}},
		}},
		want: []string{"FieldValueInvalid spec.updateStrategy.rollingUpdate.maxSurge"},
	}, {
		name:     "valid statefulset mounting its claim template",
		resource: "statefulsets",
		obj:      statefulSetWithMount("data"),
		want:     []string{},
	}, {
		name:     "statefulset mounting an unknown volume",
		resource: "statefulsets",
		obj:      statefulSetWithMount("cache"),
		want:     []string{"FieldValueNotFound spec.template.spec.containers[0].volumeMounts[0].name"},
	}, {
		name:     "statefulset name must be a DNS label",
		resource: "statefulsets",
		obj: &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db.primary"}, Spec: appsv1.StatefulSetSpec{
			Selector: webSelector(), Template: webTemplate(),
		}},
		want: []string{"FieldValueInvalid metadata.name"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := appsResource(t, tt.resource)
			res.Default(tt.obj)
			got := errorFields(res.Validate(tt.obj))
			if !slices.Equal(got, tt.want) {
				t.Errorf("errors = %q, want %q", got, tt.want)
			}
		})
	}
}

func statefulSetWithMount(volume string) *appsv1.StatefulSet {
	tmpl := webTemplate()
	tmpl.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: volume, MountPath: "/var/lib/data"}}
	return &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db"}, Spec: appsv1.StatefulSetSpec{
		Selector: webSelector(), Template: tmpl, ServiceName: "db",
		VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"}}},
	}}
}

func TestWorkloadValidateUpdate(t *testing.T) {
	newSel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "tier": "front"}}
	newLabels := map[string]string{"app": "web", "tier": "front"}
	tests := []struct {
		name     string
		resource string
		old      runtime.Object
		update   func(obj runtime.Object) // changes the copy of old that is sent
		want     []string
	}{{
		name:     "deployment image change is allowed",
		resource: "deployments",
		old:      newDeployment(nil),
		update:   func(o runtime.Object) { o.(*appsv1.Deployment).Spec.Template.Spec.Containers[0].Image = "nginx:1.28" },
		want:     []string{},
	}, {
		name:     "deployment selector is immutable",
		resource: "deployments",
		old:      newDeployment(nil),
		update: func(o runtime.Object) {
			d := o.(*appsv1.Deployment)
			d.Spec.Selector, d.Spec.Template.Labels = newSel, newLabels
		},
		want: []string{"FieldValueInvalid spec.selector"},
	}, {
		name:     "replicaset selector is immutable",
		resource: "replicasets",
		old:      &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: appsv1.ReplicaSetSpec{Selector: webSelector(), Template: webTemplate()}},
		update: func(o runtime.Object) {
			rs := o.(*appsv1.ReplicaSet)
			rs.Spec.Selector, rs.Spec.Template.Labels = newSel, newLabels
		},
		want: []string{"FieldValueInvalid spec.selector"},
	}, {
		name:     "daemonset selector is immutable",
		resource: "daemonsets",
		old:      &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent"}, Spec: appsv1.DaemonSetSpec{Selector: webSelector(), Template: webTemplate()}},
		update: func(o runtime.Object) {
			ds := o.(*appsv1.DaemonSet)
			ds.Spec.Selector, ds.Spec.Template.Labels = newSel, newLabels
		},
		want: []string{"FieldValueInvalid spec.selector"},
	}, {
		name:     "statefulset selector is immutable",
		resource: "statefulsets",
		old:      statefulSetWithMount("data"),
		update: func(o runtime.Object) {
			sts := o.(*appsv1.StatefulSet)
			sts.Spec.Selector, sts.Spec.Template.Labels = newSel, newLabels
		},
		want: []string{"FieldValueInvalid spec.selector"},
	}, {
		name:     "statefulset scaling is allowed",
		resource: "statefulsets",
		old:      statefulSetWithMount("data"),
		update:   func(o runtime.Object) { o.(*appsv1.StatefulSet).Spec.Replicas = new(int32(5)) },
		want:     []string{},
	}, {
		name:     "statefulset serviceName is frozen",
		resource: "statefulsets",
		old:      statefulSetWithMount("data"),
		update:   func(o runtime.Object) { o.(*appsv1.StatefulSet).Spec.ServiceName = "db-headless" },
		want:     []string{"FieldValueForbidden spec"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := appsResource(t, tt.resource)
			res.Default(tt.old)
			obj := tt.old.DeepCopyObject()
			tt.update(obj)
			res.Default(obj)
			errs := res.ValidateUpdate(obj, tt.old)
			if got := errorFields(errs); !slices.Equal(got, tt.want) {
				t.Fatalf("errors = %q, want %q", got, tt.want)
			}
			for _, e := range errs {
				if e.Field == "spec.selector" && e.Detail != "field is immutable" {
					t.Errorf("selector error detail = %q, want %q", e.Detail, "field is immutable")
				}
			}
		})
	}
}

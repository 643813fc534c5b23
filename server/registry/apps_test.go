package registry

import (
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// appsResource returns the apps/v1 resource named plural.
func appsResource(t *testing.T, plural string) *Resource {
	t.Helper()
	for _, r := range appsResources() {
		if r.Resource == plural {
			return r
		}
	}
	t.Fatalf("apps/v1 %s not found", plural)
	return nil
}

// webTemplate is the pod template a user writes: labels app=web, one
// nginx container, nothing defaulted.
func webTemplate() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "web", Image: "nginx:1.27",
			Ports: []corev1.ContainerPort{{ContainerPort: 80}},
		}}},
	}
}

func webSelector() *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
}

// newDeployment returns a valid, defaulted Deployment after applying mutate
// to the undefaulted object a user would send.
func newDeployment(mutate func(*appsv1.Deployment)) *appsv1.Deployment {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec:       appsv1.DeploymentSpec{Selector: webSelector(), Template: webTemplate()},
	}
	if mutate != nil {
		mutate(d)
	}
	defaultDeployment(d)
	return d
}

// errorFields returns "type field" for each error, sorted, e.g.
// "FieldValueRequired spec.selector".
func errorFields(errs field.ErrorList) []string {
	out := make([]string, 0, len(errs))
	for _, e := range errs {
		out = append(out, string(e.Type)+" "+e.Field)
	}
	slices.Sort(out)
	return out
}

func TestDeploymentDefaults(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*appsv1.Deployment)
		check  func(t *testing.T, d *appsv1.Deployment)
	}{{
		name: "empty spec gets kube's rollout settings",
		check: func(t *testing.T, d *appsv1.Deployment) {
			if got := *d.Spec.Replicas; got != 1 {
				t.Errorf("replicas = %d, want 1", got)
			}
			s := d.Spec.Strategy
			if s.Type != appsv1.RollingUpdateDeploymentStrategyType || s.RollingUpdate == nil {
				t.Fatalf("strategy = %+v, want RollingUpdate with rollingUpdate set", s)
			}
			if got := s.RollingUpdate.MaxSurge.String(); got != "25%" {
				t.Errorf("maxSurge = %s, want 25%%", got)
			}
			if got := s.RollingUpdate.MaxUnavailable.String(); got != "25%" {
				t.Errorf("maxUnavailable = %s, want 25%%", got)
			}
			if got := *d.Spec.RevisionHistoryLimit; got != 10 {
				t.Errorf("revisionHistoryLimit = %d, want 10", got)
			}
			if got := *d.Spec.ProgressDeadlineSeconds; got != 600 {
				t.Errorf("progressDeadlineSeconds = %d, want 600", got)
			}
		},
	}, {
		name: "pod template gets the pod spec defaults",
		check: func(t *testing.T, d *appsv1.Deployment) {
			spec := d.Spec.Template.Spec
			if spec.RestartPolicy != corev1.RestartPolicyAlways || spec.DNSPolicy != corev1.DNSClusterFirst ||
				spec.SchedulerName != "default-scheduler" || spec.SecurityContext == nil ||
				spec.TerminationGracePeriodSeconds == nil || *spec.TerminationGracePeriodSeconds != 30 {
				t.Errorf("template spec not defaulted: %+v", spec)
			}
			c := spec.Containers[0]
			if c.TerminationMessagePath != "/dev/termination-log" || c.TerminationMessagePolicy != corev1.TerminationMessageReadFile {
				t.Errorf("termination message = %q/%q, want /dev/termination-log/File", c.TerminationMessagePath, c.TerminationMessagePolicy)
			}
			if c.ImagePullPolicy != corev1.PullIfNotPresent {
				t.Errorf("imagePullPolicy for nginx:1.27 = %s, want IfNotPresent", c.ImagePullPolicy)
			}
			if c.Ports[0].Protocol != corev1.ProtocolTCP {
				t.Errorf("port protocol = %q, want TCP", c.Ports[0].Protocol)
			}
		},
	}, {
		name: "user's values are kept, zero replicas included",
		mutate: func(d *appsv1.Deployment) {
			d.Spec.Replicas = new(int32(0))
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: new(intstr.FromInt32(1))}
			d.Spec.RevisionHistoryLimit = new(int32(0))
		},
		check: func(t *testing.T, d *appsv1.Deployment) {
			if *d.Spec.Replicas != 0 || *d.Spec.RevisionHistoryLimit != 0 {
				t.Errorf("replicas/revisionHistoryLimit = %d/%d, want 0/0", *d.Spec.Replicas, *d.Spec.RevisionHistoryLimit)
			}
			ru := d.Spec.Strategy.RollingUpdate
			if ru.MaxSurge.String() != "1" || ru.MaxUnavailable.String() != "25%" {
				t.Errorf("rollingUpdate = %s/%s, want maxSurge 1 kept and maxUnavailable 25%%", ru.MaxSurge, ru.MaxUnavailable)
			}
		},
	}, {
		name:   "Recreate gets no rollingUpdate",
		mutate: func(d *appsv1.Deployment) { d.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType },
		check: func(t *testing.T, d *appsv1.Deployment) {
			if d.Spec.Strategy.RollingUpdate != nil {
				t.Errorf("rollingUpdate = %+v, want nil for Recreate", d.Spec.Strategy.RollingUpdate)
			}
		},
	}, {
		name: "defaulting twice changes nothing",
		check: func(t *testing.T, d *appsv1.Deployment) {
			again := d.DeepCopy()
			appsResource(t, "deployments").Default(again)
			if !apiequality.Semantic.DeepEqual(d, again) {
				t.Errorf("second Default changed the object:\n%+v\n%+v", d, again)
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, newDeployment(tt.mutate))
		})
	}
}

func TestDefaultPodSpecImagePullPolicy(t *testing.T) {
	tests := []struct {
		image string
		want  corev1.PullPolicy
	}{
		{"nginx", corev1.PullAlways},
		{"nginx:latest", corev1.PullAlways},
		{"nginx:1.27", corev1.PullIfNotPresent},
		{"registry.local:5000/team/app", corev1.PullAlways},
		{"registry.local:5000/team/app:v2", corev1.PullIfNotPresent},
		{"nginx@sha256:0d17b565c37bcbd895e9d92315a05c1c3c9a29f762b011a10c54a66cd53c9b31", corev1.PullIfNotPresent},
		{"nginx:latest@sha256:0d17b565c37bcbd895e9d92315a05c1c3c9a29f762b011a10c54a66cd53c9b31", corev1.PullAlways},
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			spec := corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: tt.image}}}
			defaultPodSpec(&spec)
			if got := spec.Containers[0].ImagePullPolicy; got != tt.want {
				t.Errorf("imagePullPolicy = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestWorkloadDefaults(t *testing.T) {
	tests := []struct {
		name     string
		resource string
		obj      runtime.Object
		check    func(t *testing.T, obj runtime.Object)
	}{{
		name:     "replicaset",
		resource: "replicasets",
		obj:      &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Template: webTemplate()}},
		check: func(t *testing.T, obj runtime.Object) {
			rs := obj.(*appsv1.ReplicaSet)
			if rs.Spec.Replicas == nil || *rs.Spec.Replicas != 1 {
				t.Errorf("replicas = %v, want 1", rs.Spec.Replicas)
			}
			if rs.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyAlways {
				t.Errorf("template not defaulted")
			}
		},
	}, {
		name:     "daemonset",
		resource: "daemonsets",
		obj:      &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Template: webTemplate()}},
		check: func(t *testing.T, obj runtime.Object) {
			ds := obj.(*appsv1.DaemonSet)
			s := ds.Spec.UpdateStrategy
			if s.Type != appsv1.RollingUpdateDaemonSetStrategyType || s.RollingUpdate == nil ||
				s.RollingUpdate.MaxUnavailable.String() != "1" || s.RollingUpdate.MaxSurge.String() != "0" {
				t.Errorf("updateStrategy = %+v, want RollingUpdate maxUnavailable 1 maxSurge 0", s)
			}
			if *ds.Spec.RevisionHistoryLimit != 10 {
				t.Errorf("revisionHistoryLimit = %d, want 10", *ds.Spec.RevisionHistoryLimit)
			}
		},
	}, {
		name:     "statefulset",
		resource: "statefulsets",
		obj: &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{
			Template:             webTemplate(),
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"}}},
		}},
		check: func(t *testing.T, obj runtime.Object) {
			s := obj.(*appsv1.StatefulSet).Spec
			if *s.Replicas != 1 || s.PodManagementPolicy != appsv1.OrderedReadyPodManagement || *s.RevisionHistoryLimit != 10 {
				t.Errorf("replicas/podManagementPolicy/revisionHistoryLimit = %d/%s/%d, want 1/OrderedReady/10",
					*s.Replicas, s.PodManagementPolicy, *s.RevisionHistoryLimit)
			}
			u := s.UpdateStrategy
			if u.Type != appsv1.RollingUpdateStatefulSetStrategyType || u.RollingUpdate == nil || *u.RollingUpdate.Partition != 0 {
				t.Errorf("updateStrategy = %+v, want RollingUpdate partition 0", u)
			}
			p := s.PersistentVolumeClaimRetentionPolicy
			if p == nil || p.WhenDeleted != appsv1.RetainPersistentVolumeClaimRetentionPolicyType || p.WhenScaled != appsv1.RetainPersistentVolumeClaimRetentionPolicyType {
				t.Errorf("persistentVolumeClaimRetentionPolicy = %+v, want Retain/Retain", p)
			}
			pvc := s.VolumeClaimTemplates[0]
			if pvc.Spec.VolumeMode == nil || *pvc.Spec.VolumeMode != corev1.PersistentVolumeFilesystem || pvc.Status.Phase != corev1.ClaimPending {
				t.Errorf("volumeClaimTemplate = %+v, want volumeMode Filesystem, phase Pending", pvc)
			}
		},
	}, {
		name:     "statefulset OnDelete keeps no rollingUpdate",
		resource: "statefulsets",
		obj: &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType},
		}},
		check: func(t *testing.T, obj runtime.Object) {
			if ru := obj.(*appsv1.StatefulSet).Spec.UpdateStrategy.RollingUpdate; ru != nil {
				t.Errorf("rollingUpdate = %+v, want nil for OnDelete", ru)
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			appsResource(t, tt.resource).Default(tt.obj)
			tt.check(t, tt.obj)
		})
	}
}

func TestWorkloadStatusRules(t *testing.T) {
	// Each case holds the stored object (spec value 1, status value 1) and
	// a request that changes both (spec 5, status 4); specValue and
	// statusValue read them back.
	tests := []struct {
		resource               string
		stored                 func() runtime.Object
		change                 func(obj runtime.Object)
		specValue, statusValue func(obj runtime.Object) int32
	}{{
		resource: "deployments",
		stored: func() runtime.Object {
			return newDeployment(func(d *appsv1.Deployment) { d.Status.ReadyReplicas = 1; d.Status.Replicas = 1 })
		},
		change: func(o runtime.Object) {
			d := o.(*appsv1.Deployment)
			d.Spec.Replicas, d.Status.ReadyReplicas, d.Status.Replicas = new(int32(5)), 4, 4
		},
		specValue:   func(o runtime.Object) int32 { return *o.(*appsv1.Deployment).Spec.Replicas },
		statusValue: func(o runtime.Object) int32 { return o.(*appsv1.Deployment).Status.ReadyReplicas },
	}, {
		resource: "replicasets",
		stored: func() runtime.Object {
			return &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Replicas: new(int32(1))}, Status: appsv1.ReplicaSetStatus{ReadyReplicas: 1}}
		},
		change: func(o runtime.Object) {
			rs := o.(*appsv1.ReplicaSet)
			rs.Spec.Replicas, rs.Status.ReadyReplicas = new(int32(5)), 4
		},
		specValue:   func(o runtime.Object) int32 { return *o.(*appsv1.ReplicaSet).Spec.Replicas },
		statusValue: func(o runtime.Object) int32 { return o.(*appsv1.ReplicaSet).Status.ReadyReplicas },
	}, {
		resource: "daemonsets",
		stored: func() runtime.Object {
			return &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{MinReadySeconds: 1}, Status: appsv1.DaemonSetStatus{NumberReady: 1}}
		},
		change: func(o runtime.Object) {
			ds := o.(*appsv1.DaemonSet)
			ds.Spec.MinReadySeconds, ds.Status.NumberReady = 5, 4
		},
		specValue:   func(o runtime.Object) int32 { return o.(*appsv1.DaemonSet).Spec.MinReadySeconds },
		statusValue: func(o runtime.Object) int32 { return o.(*appsv1.DaemonSet).Status.NumberReady },
	}, {
		resource: "statefulsets",
		stored: func() runtime.Object {
			return &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{Replicas: new(int32(1))}, Status: appsv1.StatefulSetStatus{ReadyReplicas: 1}}
		},
		change: func(o runtime.Object) {
			sts := o.(*appsv1.StatefulSet)
			sts.Spec.Replicas, sts.Status.ReadyReplicas = new(int32(5)), 4
		},
		specValue:   func(o runtime.Object) int32 { return *o.(*appsv1.StatefulSet).Spec.Replicas },
		statusValue: func(o runtime.Object) int32 { return o.(*appsv1.StatefulSet).Status.ReadyReplicas },
	}}
	for _, tt := range tests {
		res := appsResource(t, tt.resource)
		t.Run(tt.resource+"/create clears status", func(t *testing.T) {
			obj := tt.stored()
			res.PrepareForCreate(obj)
			if got := tt.statusValue(obj); got != 0 {
				t.Errorf("ready after create = %d, want 0", got)
			}
		})
		t.Run(tt.resource+"/update keeps stored status", func(t *testing.T) {
			old := tt.stored()
			obj := old.DeepCopyObject()
			tt.change(obj)
			res.PrepareForUpdate(obj, old)
			if got := tt.specValue(obj); got != 5 {
				t.Errorf("spec after update = %d, want the new 5", got)
			}
			if got := tt.statusValue(obj); got != 1 {
				t.Errorf("status after update = %d, want the stored 1", got)
			}
		})
		t.Run(tt.resource+"/status update keeps stored spec", func(t *testing.T) {
			old := tt.stored()
			obj := old.DeepCopyObject()
			tt.change(obj)
			res.PrepareForStatusUpdate(obj, old)
			if got := tt.specValue(obj); got != 1 {
				t.Errorf("spec after status update = %d, want the stored 1", got)
			}
			if got := tt.statusValue(obj); got != 4 {
				t.Errorf("status after status update = %d, want the new 4", got)
			}
		})
	}

	t.Run("deployment status update keeps stored labels", func(t *testing.T) {
		old := newDeployment(func(d *appsv1.Deployment) { d.Labels = map[string]string{"team": "a"} })
		obj := old.DeepCopy()
		obj.Labels["team"] = "b"
		appsResource(t, "deployments").PrepareForStatusUpdate(obj, old)
		if obj.Labels["team"] != "a" {
			t.Errorf("labels = %v, want the stored team=a", obj.Labels)
		}
	})
	t.Run("status with more ready than total replicas is rejected", func(t *testing.T) {
		old := newDeployment(nil)
		obj := old.DeepCopy()
		obj.Status = appsv1.DeploymentStatus{Replicas: 1, ReadyReplicas: 2}
		got := errorFields(appsResource(t, "deployments").ValidateUpdate(obj, old))
		if want := []string{"FieldValueInvalid status.readyReplicas"}; !slices.Equal(got, want) {
			t.Errorf("errors = %q, want %q", got, want)
		}
	})
	t.Run("daemonset template change bumps template generation", func(t *testing.T) {
		res := appsResource(t, "daemonsets")
		old := &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Selector: webSelector(), Template: webTemplate()}}
		res.Default(old)
		res.PrepareForCreate(old)
		if got := old.Annotations[appsv1.DeprecatedTemplateGeneration]; got != "1" {
			t.Fatalf("template generation after create = %q, want 1", got)
		}
		same := old.DeepCopy()
		same.Spec.MinReadySeconds = 3
		res.PrepareForUpdate(same, old)
		if got := same.Annotations[appsv1.DeprecatedTemplateGeneration]; got != "1" {
			t.Errorf("template generation after a non-template change = %q, want 1", got)
		}
		changed := old.DeepCopy()
		changed.Spec.Template.Spec.Containers[0].Image = "nginx:1.28"
		res.PrepareForUpdate(changed, old)
		if got := changed.Annotations[appsv1.DeprecatedTemplateGeneration]; got != "2" {
			t.Errorf("template generation after a template change = %q, want 2", got)
		}
	})
}

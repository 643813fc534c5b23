package registry

import (
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// appsResources returns the resources of apps/v1: deployments,
// replicasets, daemonsets and statefulsets. Each has a status subresource
// (and all but daemonsets a scale subresource), so creating one clears its
// status, an update of the main resource keeps the stored status, and an
// update through /status keeps the stored spec. Validation is in
// apps_validation.go and the table columns in apps_table.go.
func appsResources() []*Resource {
	return []*Resource{
		{
			Group: "apps", Version: "v1", Resource: "deployments",
			Kind: "Deployment", ListKind: "DeploymentList",
			Namespaced:   true,
			ShortNames:   []string{"deploy"},
			Categories:   []string{"all"},
			Subresources: []string{"status", "scale"},
			New:          func() runtime.Object { return &appsv1.Deployment{} },
			NewList:      func() runtime.Object { return &appsv1.DeploymentList{} },
			Default:      func(obj runtime.Object) { defaultDeployment(obj.(*appsv1.Deployment)) },
			PrepareForCreate: func(obj runtime.Object) {
				obj.(*appsv1.Deployment).Status = appsv1.DeploymentStatus{}
			},
			PrepareForUpdate: func(obj, old runtime.Object) {
				obj.(*appsv1.Deployment).Status = old.(*appsv1.Deployment).Status
			},
			PrepareForStatusUpdate: func(obj, old runtime.Object) {
				d, o := obj.(*appsv1.Deployment), old.(*appsv1.Deployment)
				d.Spec = o.Spec
				// Kubernetes resets labels too: a Deployment's labels are
				// desired state, not something its controller reports.
				d.Labels = o.Labels
			},
			Validate: func(obj runtime.Object) field.ErrorList { return validateDeployment(obj.(*appsv1.Deployment)) },
			ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
				return validateDeploymentUpdate(obj.(*appsv1.Deployment), old.(*appsv1.Deployment))
			},
			Columns: deploymentColumns(),
			Row:     func(obj runtime.Object) []any { return deploymentRow(obj.(*appsv1.Deployment)) },
		},
		{
			Group: "apps", Version: "v1", Resource: "replicasets",
			Kind: "ReplicaSet", ListKind: "ReplicaSetList",
			Namespaced:   true,
			ShortNames:   []string{"rs"},
			Categories:   []string{"all"},
			Subresources: []string{"status", "scale"},
			New:          func() runtime.Object { return &appsv1.ReplicaSet{} },
			NewList:      func() runtime.Object { return &appsv1.ReplicaSetList{} },
			Default:      func(obj runtime.Object) { defaultReplicaSet(obj.(*appsv1.ReplicaSet)) },
			PrepareForCreate: func(obj runtime.Object) {
				obj.(*appsv1.ReplicaSet).Status = appsv1.ReplicaSetStatus{}
			},
			PrepareForUpdate: func(obj, old runtime.Object) {
				obj.(*appsv1.ReplicaSet).Status = old.(*appsv1.ReplicaSet).Status
			},
			PrepareForStatusUpdate: func(obj, old runtime.Object) {
				obj.(*appsv1.ReplicaSet).Spec = old.(*appsv1.ReplicaSet).Spec
			},
			Validate: func(obj runtime.Object) field.ErrorList { return validateReplicaSet(obj.(*appsv1.ReplicaSet)) },
			ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
				return validateReplicaSetUpdate(obj.(*appsv1.ReplicaSet), old.(*appsv1.ReplicaSet))
			},
			Columns: replicaSetColumns(),
			Row:     func(obj runtime.Object) []any { return replicaSetRow(obj.(*appsv1.ReplicaSet)) },
		},
		{
			Group: "apps", Version: "v1", Resource: "daemonsets",
			Kind: "DaemonSet", ListKind: "DaemonSetList",
			Namespaced:   true,
			ShortNames:   []string{"ds"},
			Categories:   []string{"all"},
			Subresources: []string{"status"},
			New:          func() runtime.Object { return &appsv1.DaemonSet{} },
			NewList:      func() runtime.Object { return &appsv1.DaemonSetList{} },
			Default:      func(obj runtime.Object) { defaultDaemonSet(obj.(*appsv1.DaemonSet)) },
			PrepareForCreate: func(obj runtime.Object) {
				ds := obj.(*appsv1.DaemonSet)
				ds.Status = appsv1.DaemonSetStatus{}
				setDaemonSetTemplateGeneration(ds, max(daemonSetTemplateGeneration(ds), 1))
			},
			PrepareForUpdate: func(obj, old runtime.Object) {
				ds, o := obj.(*appsv1.DaemonSet), old.(*appsv1.DaemonSet)
				ds.Status = o.Status
				gen := daemonSetTemplateGeneration(o)
				if !apiequality.Semantic.DeepEqual(ds.Spec.Template, o.Spec.Template) {
					gen++
				}
				setDaemonSetTemplateGeneration(ds, gen)
			},
			PrepareForStatusUpdate: func(obj, old runtime.Object) {
				obj.(*appsv1.DaemonSet).Spec = old.(*appsv1.DaemonSet).Spec
			},
			Validate: func(obj runtime.Object) field.ErrorList { return validateDaemonSet(obj.(*appsv1.DaemonSet)) },
			ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
				return validateDaemonSetUpdate(obj.(*appsv1.DaemonSet), old.(*appsv1.DaemonSet))
			},
			Columns: daemonSetColumns(),
			Row:     func(obj runtime.Object) []any { return daemonSetRow(obj.(*appsv1.DaemonSet)) },
		},
		{
			Group: "apps", Version: "v1", Resource: "statefulsets",
			Kind: "StatefulSet", ListKind: "StatefulSetList",
			Namespaced:   true,
			ShortNames:   []string{"sts"},
			Categories:   []string{"all"},
			Subresources: []string{"status", "scale"},
			New:          func() runtime.Object { return &appsv1.StatefulSet{} },
			NewList:      func() runtime.Object { return &appsv1.StatefulSetList{} },
			Default:      func(obj runtime.Object) { defaultStatefulSet(obj.(*appsv1.StatefulSet)) },
			PrepareForCreate: func(obj runtime.Object) {
				obj.(*appsv1.StatefulSet).Status = appsv1.StatefulSetStatus{}
			},
			PrepareForUpdate: func(obj, old runtime.Object) {
				obj.(*appsv1.StatefulSet).Status = old.(*appsv1.StatefulSet).Status
			},
			PrepareForStatusUpdate: func(obj, old runtime.Object) {
				obj.(*appsv1.StatefulSet).Spec = old.(*appsv1.StatefulSet).Spec
			},
			Validate: func(obj runtime.Object) field.ErrorList { return validateStatefulSet(obj.(*appsv1.StatefulSet)) },
			ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
				return validateStatefulSetUpdate(obj.(*appsv1.StatefulSet), old.(*appsv1.StatefulSet))
			},
			Columns: statefulSetColumns(),
			Row:     func(obj runtime.Object) []any { return statefulSetRow(obj.(*appsv1.StatefulSet)) },
		},
	}
}

// defaultDeployment sets what apps/v1 defaults on a Deployment: one
// replica, a RollingUpdate strategy with maxSurge and maxUnavailable 25%
// (left unset for Recreate), revisionHistoryLimit 10,
// progressDeadlineSeconds 600, and the pod template defaults.
func defaultDeployment(d *appsv1.Deployment) {
	if d.Spec.Replicas == nil {
		d.Spec.Replicas = new(int32(1))
	}
	s := &d.Spec.Strategy
	if s.Type == "" {
		s.Type = appsv1.RollingUpdateDeploymentStrategyType
	}
	if s.Type == appsv1.RollingUpdateDeploymentStrategyType {
		if s.RollingUpdate == nil {
			s.RollingUpdate = &appsv1.RollingUpdateDeployment{}
		}
		if s.RollingUpdate.MaxUnavailable == nil {
			s.RollingUpdate.MaxUnavailable = new(intstr.FromString("25%"))
		}
		if s.RollingUpdate.MaxSurge == nil {
			s.RollingUpdate.MaxSurge = new(intstr.FromString("25%"))
		}
	}
	if d.Spec.RevisionHistoryLimit == nil {
		d.Spec.RevisionHistoryLimit = new(int32(10))
	}
	if d.Spec.ProgressDeadlineSeconds == nil {
		d.Spec.ProgressDeadlineSeconds = new(int32(600))
	}
	defaultPodSpec(&d.Spec.Template.Spec)
}

// defaultReplicaSet sets one replica and the pod template defaults.
func defaultReplicaSet(rs *appsv1.ReplicaSet) {
	if rs.Spec.Replicas == nil {
		rs.Spec.Replicas = new(int32(1))
	}
	defaultPodSpec(&rs.Spec.Template.Spec)
}

// defaultDaemonSet sets a RollingUpdate update strategy with maxUnavailable
// 1 and maxSurge 0 (left unset for OnDelete), revisionHistoryLimit 10, and
// the pod template defaults.
func defaultDaemonSet(ds *appsv1.DaemonSet) {
	s := &ds.Spec.UpdateStrategy
	if s.Type == "" {
		s.Type = appsv1.RollingUpdateDaemonSetStrategyType
	}
	if s.Type == appsv1.RollingUpdateDaemonSetStrategyType {
		if s.RollingUpdate == nil {
			s.RollingUpdate = &appsv1.RollingUpdateDaemonSet{}
		}
		if s.RollingUpdate.MaxUnavailable == nil {
			s.RollingUpdate.MaxUnavailable = new(intstr.FromInt32(1))
		}
		if s.RollingUpdate.MaxSurge == nil {
			s.RollingUpdate.MaxSurge = new(intstr.FromInt32(0))
		}
	}
	if ds.Spec.RevisionHistoryLimit == nil {
		ds.Spec.RevisionHistoryLimit = new(int32(10))
	}
	defaultPodSpec(&ds.Spec.Template.Spec)
}

// defaultStatefulSet sets one replica, podManagementPolicy OrderedReady, a
// RollingUpdate update strategy with partition 0, revisionHistoryLimit 10,
// a Retain/Retain persistentVolumeClaimRetentionPolicy, the pod template
// defaults, and volumeMode Filesystem and phase Pending on the volume
// claim templates.
func defaultStatefulSet(sts *appsv1.StatefulSet) {
	spec := &sts.Spec
	if spec.Replicas == nil {
		spec.Replicas = new(int32(1))
	}
	if spec.PodManagementPolicy == "" {
		spec.PodManagementPolicy = appsv1.OrderedReadyPodManagement
	}
	if spec.UpdateStrategy.Type == "" {
		spec.UpdateStrategy.Type = appsv1.RollingUpdateStatefulSetStrategyType
		if spec.UpdateStrategy.RollingUpdate == nil {
			spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{}
		}
	}
	if ru := spec.UpdateStrategy.RollingUpdate; spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType && ru != nil && ru.Partition == nil {
		ru.Partition = new(int32(0))
	}
	if spec.RevisionHistoryLimit == nil {
		spec.RevisionHistoryLimit = new(int32(10))
	}
	if spec.PersistentVolumeClaimRetentionPolicy == nil {
		spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{}
	}
	if p := spec.PersistentVolumeClaimRetentionPolicy; p.WhenDeleted == "" {
		p.WhenDeleted = appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	}
	if p := spec.PersistentVolumeClaimRetentionPolicy; p.WhenScaled == "" {
		p.WhenScaled = appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	}
	defaultPodSpec(&spec.Template.Spec)
	for i := range spec.VolumeClaimTemplates {
		pvc := &spec.VolumeClaimTemplates[i]
		if pvc.Spec.VolumeMode == nil {
			pvc.Spec.VolumeMode = new(corev1.PersistentVolumeFilesystem)
		}
		if pvc.Status.Phase == "" {
			pvc.Status.Phase = corev1.ClaimPending
		}
	}
}

// daemonSetTemplateGeneration returns the template generation Kubernetes
// records in the deprecated.daemonset.template.generation annotation, 0 when
// absent or unparsable.
func daemonSetTemplateGeneration(ds *appsv1.DaemonSet) int64 {
	gen, err := strconv.ParseInt(ds.Annotations[appsv1.DeprecatedTemplateGeneration], 10, 64)
	if err != nil {
		return 0
	}
	return gen
}

// setDaemonSetTemplateGeneration records gen in the
// deprecated.daemonset.template.generation annotation, as kube-apiserver
// does: at least 1 on create, incremented on every change of the pod
// template, otherwise carried over from the stored object.
func setDaemonSetTemplateGeneration(ds *appsv1.DaemonSet, gen int64) {
	if ds.Annotations == nil {
		ds.Annotations = map[string]string{}
	}
	ds.Annotations[appsv1.DeprecatedTemplateGeneration] = strconv.FormatInt(gen, 10)
}

package authz

import (
	corev1 "k8s.io/api/core/v1"
)

// The functions below walk the names a pod references, calling visit with
// each until it returns true, and report whether it did. They cover the
// same places as upstream's pod visitors: every kind of container (init,
// regular, ephemeral), env and envFrom, image pull secrets, volumes
// including projected sources and the volume plugins that name a secret.

// secretRef visits the Secrets pod references.
func secretRef(pod *corev1.Pod, visit func(string) bool) bool {
	for _, s := range pod.Spec.ImagePullSecrets {
		if visit(s.Name) {
			return true
		}
	}
	if anyContainer(pod, func(c *corev1.Container) bool {
		for _, ef := range c.EnvFrom {
			if ef.SecretRef != nil && visit(ef.SecretRef.Name) {
				return true
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && visit(e.ValueFrom.SecretKeyRef.Name) {
				return true
			}
		}
		return false
	}) {
		return true
	}
	for i := range pod.Spec.Volumes {
		if volumeSecretRef(&pod.Spec.Volumes[i].VolumeSource, visit) {
			return true
		}
	}
	return false
}

func volumeSecretRef(v *corev1.VolumeSource, visit func(string) bool) bool {
	ref := func(r *corev1.LocalObjectReference) bool { return r != nil && visit(r.Name) }
	switch {
	case v.Secret != nil:
		return visit(v.Secret.SecretName)
	case v.Projected != nil:
		for _, s := range v.Projected.Sources {
			if s.Secret != nil && visit(s.Secret.Name) {
				return true
			}
		}
	case v.AzureFile != nil:
		return visit(v.AzureFile.SecretName)
	case v.CephFS != nil:
		return ref(v.CephFS.SecretRef)
	case v.Cinder != nil:
		return ref(v.Cinder.SecretRef)
	case v.FlexVolume != nil:
		return ref(v.FlexVolume.SecretRef)
	case v.RBD != nil:
		return ref(v.RBD.SecretRef)
	case v.ScaleIO != nil:
		return ref(v.ScaleIO.SecretRef)
	case v.ISCSI != nil:
		return ref(v.ISCSI.SecretRef)
	case v.StorageOS != nil:
		return ref(v.StorageOS.SecretRef)
	case v.CSI != nil:
		return ref(v.CSI.NodePublishSecretRef)
	}
	return false
}

// configMapRef visits the ConfigMaps pod references.
func configMapRef(pod *corev1.Pod, visit func(string) bool) bool {
	if anyContainer(pod, func(c *corev1.Container) bool {
		for _, ef := range c.EnvFrom {
			if ef.ConfigMapRef != nil && visit(ef.ConfigMapRef.Name) {
				return true
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil && visit(e.ValueFrom.ConfigMapKeyRef.Name) {
				return true
			}
		}
		return false
	}) {
		return true
	}
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.ConfigMap != nil:
			if visit(v.ConfigMap.Name) {
				return true
			}
		case v.Projected != nil:
			for _, s := range v.Projected.Sources {
				if s.ConfigMap != nil && visit(s.ConfigMap.Name) {
					return true
				}
			}
		}
	}
	return false
}

// claimRef visits the PersistentVolumeClaims pod uses: named claims, and
// the claims of generic ephemeral volumes (named POD-VOLUME).
func claimRef(pod *corev1.Pod, visit func(string) bool) bool {
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.PersistentVolumeClaim != nil:
			if visit(v.PersistentVolumeClaim.ClaimName) {
				return true
			}
		case v.Ephemeral != nil:
			if visit(pod.Name + "-" + v.Name) {
				return true
			}
		}
	}
	return false
}

// anyContainer reports whether fn is true for a container of pod (init,
// regular or ephemeral), stopping at the first.
func anyContainer(pod *corev1.Pod, fn func(*corev1.Container) bool) bool {
	for i := range pod.Spec.InitContainers {
		if fn(&pod.Spec.InitContainers[i]) {
			return true
		}
	}
	for i := range pod.Spec.Containers {
		if fn(&pod.Spec.Containers[i]) {
			return true
		}
	}
	for i := range pod.Spec.EphemeralContainers {
		if fn((*corev1.Container)(&pod.Spec.EphemeralContainers[i].EphemeralContainerCommon)) {
			return true
		}
	}
	return false
}

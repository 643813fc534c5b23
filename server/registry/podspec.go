package registry

import (
	"maps"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// defaultPodSpec sets, in place, the defaults Kubernetes gives every pod
// spec, whether it belongs to a Pod or to a pod template (Deployment,
// ReplicaSet, DaemonSet, StatefulSet, Job, PodTemplate...):
//
//   - dnsPolicy ClusterFirst, restartPolicy Always, schedulerName
//     default-scheduler, terminationGracePeriodSeconds 30, securityContext {};
//   - for every container, init container and ephemeral container:
//     imagePullPolicy (Always for a ":latest" or untagged image, otherwise
//     IfNotPresent), terminationMessagePath /dev/termination-log,
//     terminationMessagePolicy File, port protocol TCP, probe timing
//     (timeout 1s, period 10s, success 1, failure 3), httpGet path "/" and
//     scheme HTTP, fieldRef apiVersion v1;
//   - for every volume: emptyDir when no source is set, defaultMode 0644 for
//     secret, configMap, downwardAPI and projected sources, an empty
//     hostPath type, a one hour expiry for projected service account tokens.
//
// Fields already set are kept. It does not set what Kubernetes defaults on
// Pod objects only (enableServiceLinks, requests copied from limits, host
// ports under hostNetwork): the Pod strategy does that itself. A nil spec is
// left alone.
func defaultPodSpec(spec *corev1.PodSpec) {
	if spec == nil {
		return
	}
	if spec.DNSPolicy == "" {
		spec.DNSPolicy = corev1.DNSClusterFirst
	}
	if spec.RestartPolicy == "" {
		spec.RestartPolicy = corev1.RestartPolicyAlways
	}
	if spec.SecurityContext == nil {
		spec.SecurityContext = &corev1.PodSecurityContext{}
	}
	if spec.TerminationGracePeriodSeconds == nil {
		spec.TerminationGracePeriodSeconds = new(int64(corev1.DefaultTerminationGracePeriodSeconds))
	}
	if spec.SchedulerName == "" {
		spec.SchedulerName = corev1.DefaultSchedulerName
	}
	for i := range spec.InitContainers {
		podSpecDefaultContainer(&spec.InitContainers[i])
	}
	for i := range spec.Containers {
		podSpecDefaultContainer(&spec.Containers[i])
	}
	for i := range spec.EphemeralContainers {
		podSpecDefaultContainer((*corev1.Container)(&spec.EphemeralContainers[i].EphemeralContainerCommon))
	}
	for i := range spec.Volumes {
		podSpecDefaultVolume(&spec.Volumes[i])
	}
}

// podSpecDefaultContainer sets the per-container defaults described on
// defaultPodSpec.
func podSpecDefaultContainer(c *corev1.Container) {
	if c.ImagePullPolicy == "" {
		c.ImagePullPolicy = podSpecPullPolicy(c.Image)
	}
	if c.TerminationMessagePath == "" {
		c.TerminationMessagePath = corev1.TerminationMessagePathDefault
	}
	if c.TerminationMessagePolicy == "" {
		c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
	}
	for i := range c.Ports {
		if c.Ports[i].Protocol == "" {
			c.Ports[i].Protocol = corev1.ProtocolTCP
		}
	}
	for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
		podSpecDefaultProbe(p)
	}
	if c.Lifecycle != nil {
		for _, h := range []*corev1.LifecycleHandler{c.Lifecycle.PostStart, c.Lifecycle.PreStop} {
			if h != nil {
				podSpecDefaultHTTPGet(h.HTTPGet)
			}
		}
	}
	for i := range c.Env {
		if from := c.Env[i].ValueFrom; from != nil && from.FieldRef != nil && from.FieldRef.APIVersion == "" {
			from.FieldRef.APIVersion = "v1"
		}
	}
}

// podSpecPullPolicy is the imagePullPolicy Kubernetes picks for image:
// Always when the tag is "latest" or the image names neither a tag nor a
// digest, IfNotPresent otherwise.
func podSpecPullPolicy(image string) corev1.PullPolicy {
	if image == "" {
		// Kubernetes cannot parse an empty reference and falls back to
		// IfNotPresent; validation rejects the container anyway.
		return corev1.PullIfNotPresent
	}
	name, digest, hasDigest := strings.Cut(image, "@")
	tag := ""
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		tag = name[i+1:]
	}
	if tag == "latest" || (tag == "" && (!hasDigest || digest == "")) {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}

// podSpecDefaultProbe sets a probe's timing and handler defaults; a nil
// probe is left alone.
func podSpecDefaultProbe(p *corev1.Probe) {
	if p == nil {
		return
	}
	if p.TimeoutSeconds == 0 {
		p.TimeoutSeconds = 1
	}
	if p.PeriodSeconds == 0 {
		p.PeriodSeconds = 10
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = 1
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = 3
	}
	podSpecDefaultHTTPGet(p.HTTPGet)
	if p.GRPC != nil && p.GRPC.Service == nil {
		p.GRPC.Service = new("")
	}
}

// podSpecDefaultHTTPGet sets path "/" and scheme HTTP; nil is left alone.
func podSpecDefaultHTTPGet(h *corev1.HTTPGetAction) {
	if h == nil {
		return
	}
	if h.Path == "" {
		h.Path = "/"
	}
	if h.Scheme == "" {
		h.Scheme = corev1.URISchemeHTTP
	}
}

// podSpecDefaultVolume sets the volume source defaults described on
// defaultPodSpec.
func podSpecDefaultVolume(v *corev1.Volume) {
	src := &v.VolumeSource
	if *src == (corev1.VolumeSource{}) {
		src.EmptyDir = &corev1.EmptyDirVolumeSource{}
	}
	if s := src.Secret; s != nil && s.DefaultMode == nil {
		s.DefaultMode = new(int32(corev1.SecretVolumeSourceDefaultMode))
	}
	if s := src.ConfigMap; s != nil && s.DefaultMode == nil {
		s.DefaultMode = new(int32(corev1.ConfigMapVolumeSourceDefaultMode))
	}
	if s := src.DownwardAPI; s != nil {
		if s.DefaultMode == nil {
			s.DefaultMode = new(int32(corev1.DownwardAPIVolumeSourceDefaultMode))
		}
		for i := range s.Items {
			if ref := s.Items[i].FieldRef; ref != nil && ref.APIVersion == "" {
				ref.APIVersion = "v1"
			}
		}
	}
	if s := src.Projected; s != nil {
		if s.DefaultMode == nil {
			s.DefaultMode = new(int32(corev1.ProjectedVolumeSourceDefaultMode))
		}
		for i := range s.Sources {
			if t := s.Sources[i].ServiceAccountToken; t != nil && t.ExpirationSeconds == nil {
				t.ExpirationSeconds = new(int64(3600))
			}
			if d := s.Sources[i].DownwardAPI; d != nil {
				for j := range d.Items {
					if ref := d.Items[j].FieldRef; ref != nil && ref.APIVersion == "" {
						ref.APIVersion = "v1"
					}
				}
			}
		}
	}
	if s := src.HostPath; s != nil && s.Type == nil {
		s.Type = new(corev1.HostPathUnset)
	}
}

// podSpecErrors checks a pod template's spec at path the way validatePod
// (core_pod_validation.go) checks a pod's, so that a template that passes
// makes pods that pass: at least one container; containers and init
// containers checked by validateContainer (DNS-label names unique across
// both lists, an image, pull policy, ports, env names, resources, and
// volume mounts that name a volume of the spec or one of extraVolumes,
// which may be nil); volume names DNS labels without duplicates; a
// supported dnsPolicy. It expects a spec defaulted by defaultPodSpec and
// does not check restartPolicy, which depends on the owner (Always for
// workloads).
func podSpecErrors(spec *corev1.PodSpec, extraVolumes map[string]bool, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	declared := map[string]bool{}
	for i, v := range spec.Volumes {
		p := path.Child("volumes").Index(i).Child("name")
		switch {
		case v.Name == "":
			errs = append(errs, field.Required(p, ""))
		case declared[v.Name]:
			errs = append(errs, field.Duplicate(p, v.Name))
		default:
			for _, msg := range validation.IsDNS1123Label(v.Name) {
				errs = append(errs, field.Invalid(p, v.Name, msg))
			}
		}
		declared[v.Name] = true
	}
	volumes := maps.Clone(declared)
	maps.Copy(volumes, extraVolumes)
	if len(spec.Containers) == 0 {
		errs = append(errs, field.Required(path.Child("containers"), ""))
	}
	names := map[string]bool{}
	for i := range spec.InitContainers {
		errs = append(errs, validateContainer(&spec.InitContainers[i], path.Child("initContainers").Index(i), names, volumes)...)
	}
	for i := range spec.Containers {
		errs = append(errs, validateContainer(&spec.Containers[i], path.Child("containers").Index(i), names, volumes)...)
	}
	switch spec.DNSPolicy {
	case corev1.DNSClusterFirst, corev1.DNSClusterFirstWithHostNet, corev1.DNSDefault, corev1.DNSNone:
	default:
		errs = append(errs, field.NotSupported(path.Child("dnsPolicy"), spec.DNSPolicy, []corev1.DNSPolicy{
			corev1.DNSClusterFirstWithHostNet, corev1.DNSClusterFirst, corev1.DNSDefault, corev1.DNSNone,
		}))
	}
	return errs
}

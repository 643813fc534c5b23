package registry

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// validatePod checks a defaulted pod the way kube's pod validation does for
// the fields users write by hand: at least one container; container and
// volume names that are DNS labels, unique across init and app containers;
// an image for every container; valid ports, pull policies, env names and
// volume mounts; requests within limits; restart and DNS policies from the
// allowed sets; tolerations, node selector and the names the pod refers to.
func validatePod(pod *corev1.Pod) field.ErrorList {
	errs := validateObjectName(pod.Name, apivalidation.NameIsDNSSubdomain)
	spec := &pod.Spec
	specPath := field.NewPath("spec")

	// What a pod shares with pod templates (containers, volumes, DNS
	// policy) is checked by podSpecErrors (podspec.go); the rest is
	// pod-only here.
	errs = append(errs, podSpecErrors(spec, nil, specPath)...)

	switch spec.RestartPolicy {
	case corev1.RestartPolicyAlways, corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever:
	case "":
		errs = append(errs, field.Required(specPath.Child("restartPolicy"), ""))
	default:
		errs = append(errs, field.NotSupported(specPath.Child("restartPolicy"), spec.RestartPolicy,
			[]corev1.RestartPolicy{corev1.RestartPolicyAlways, corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever}))
	}
	if d := spec.ActiveDeadlineSeconds; d != nil && *d <= 0 {
		errs = append(errs, field.Invalid(specPath.Child("activeDeadlineSeconds"), *d, "must be between 1 and 2147483647, inclusive"))
	}
	if spec.NodeName != "" {
		for _, msg := range apivalidation.NameIsDNSSubdomain(spec.NodeName, false) {
			errs = append(errs, field.Invalid(specPath.Child("nodeName"), spec.NodeName, msg))
		}
	}
	if spec.ServiceAccountName != "" {
		for _, msg := range apivalidation.NameIsDNSSubdomain(spec.ServiceAccountName, false) {
			errs = append(errs, field.Invalid(specPath.Child("serviceAccountName"), spec.ServiceAccountName, msg))
		}
	}
	if spec.Hostname != "" {
		errs = append(errs, dnsLabel(spec.Hostname, specPath.Child("hostname"))...)
	}
	if spec.Subdomain != "" {
		errs = append(errs, dnsLabel(spec.Subdomain, specPath.Child("subdomain"))...)
	}
	errs = append(errs, metav1validation.ValidateLabels(spec.NodeSelector, specPath.Child("nodeSelector"))...)
	for i, t := range spec.Tolerations {
		errs = append(errs, validateToleration(t, specPath.Child("tolerations").Index(i))...)
	}
	return errs
}

// validateContainer checks one container; names collects the container
// names seen so far (they must be unique across all of a pod's containers)
// and volumes the pod's volume names.
func validateContainer(c *corev1.Container, path *field.Path, names, volumes map[string]bool) field.ErrorList {
	var errs field.ErrorList
	switch {
	case c.Name == "":
		errs = append(errs, field.Required(path.Child("name"), ""))
	case names[c.Name]:
		errs = append(errs, field.Duplicate(path.Child("name"), c.Name))
	default:
		errs = append(errs, dnsLabel(c.Name, path.Child("name"))...)
	}
	names[c.Name] = true

	if strings.TrimSpace(c.Image) == "" {
		errs = append(errs, field.Required(path.Child("image"), ""))
	}
	switch c.ImagePullPolicy {
	case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		errs = append(errs, field.NotSupported(path.Child("imagePullPolicy"), c.ImagePullPolicy,
			[]corev1.PullPolicy{corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever}))
	}

	portNames := map[string]bool{}
	for i, p := range c.Ports {
		pp := path.Child("ports").Index(i)
		if p.Name != "" {
			for _, msg := range validation.IsValidPortName(p.Name) {
				errs = append(errs, field.Invalid(pp.Child("name"), p.Name, msg))
			}
			if portNames[p.Name] {
				errs = append(errs, field.Duplicate(pp.Child("name"), p.Name))
			}
			portNames[p.Name] = true
		}
		if p.ContainerPort == 0 {
			errs = append(errs, field.Required(pp.Child("containerPort"), ""))
		} else {
			errs = append(errs, portNumber(p.ContainerPort, pp.Child("containerPort"))...)
		}
		if p.HostPort != 0 {
			errs = append(errs, portNumber(p.HostPort, pp.Child("hostPort"))...)
		}
		errs = append(errs, validateProtocol(p.Protocol, pp.Child("protocol"))...)
	}

	for i, e := range c.Env {
		ep := path.Child("env").Index(i).Child("name")
		if e.Name == "" {
			errs = append(errs, field.Required(ep, ""))
			continue
		}
		for _, msg := range validation.IsRelaxedEnvVarName(e.Name) {
			errs = append(errs, field.Invalid(ep, e.Name, msg))
		}
	}

	for i, m := range c.VolumeMounts {
		mp := path.Child("volumeMounts").Index(i)
		if m.Name == "" {
			errs = append(errs, field.Required(mp.Child("name"), ""))
		} else if !volumes[m.Name] {
			errs = append(errs, field.NotFound(mp.Child("name"), m.Name))
		}
		if m.MountPath == "" {
			errs = append(errs, field.Required(mp.Child("mountPath"), ""))
		}
	}

	for name, req := range c.Resources.Requests {
		if lim, ok := c.Resources.Limits[name]; ok && req.Cmp(lim) > 0 {
			errs = append(errs, field.Invalid(path.Child("resources", "requests").Key(string(name)), req.String(),
				fmt.Sprintf("must be less than or equal to %s limit of %s", name, lim.String())))
		}
	}
	for name, q := range c.Resources.Limits {
		if q.Sign() < 0 {
			errs = append(errs, field.Invalid(path.Child("resources", "limits").Key(string(name)), q.String(), "must be greater than or equal to 0"))
		}
	}
	return errs
}

// validateToleration checks a toleration's key, operator, value, effect and
// tolerationSeconds as kube does.
func validateToleration(t corev1.Toleration, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if t.Key != "" {
		errs = append(errs, metav1validation.ValidateLabelName(t.Key, path.Child("key"))...)
	}
	switch t.Operator {
	case corev1.TolerationOpEqual, "":
		if t.Key == "" {
			errs = append(errs, field.Invalid(path.Child("operator"), t.Operator, "operator must be Exists when `key` is empty, which means \"match all values and all keys\""))
		}
		for _, msg := range validation.IsValidLabelValue(t.Value) {
			errs = append(errs, field.Invalid(path.Child("value"), t.Value, msg))
		}
	case corev1.TolerationOpExists:
		if t.Value != "" {
			errs = append(errs, field.Invalid(path.Child("operator"), t.Value, "value must be empty when `operator` is 'Exists'"))
		}
	default:
		errs = append(errs, field.NotSupported(path.Child("operator"), t.Operator,
			[]corev1.TolerationOperator{corev1.TolerationOpEqual, corev1.TolerationOpExists}))
	}
	if t.Effect != "" {
		errs = append(errs, validateTaintEffect(t.Effect, path.Child("effect"))...)
	}
	if t.TolerationSeconds != nil && t.Effect != corev1.TaintEffectNoExecute {
		errs = append(errs, field.Invalid(path.Child("effect"), t.Effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"))
	}
	return errs
}

// validateTaintEffect reports an effect other than NoSchedule,
// PreferNoSchedule and NoExecute.
func validateTaintEffect(e corev1.TaintEffect, path *field.Path) field.ErrorList {
	switch e {
	case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		return nil
	}
	return field.ErrorList{field.NotSupported(path, e,
		[]corev1.TaintEffect{corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute})}
}

// podUpdateForbiddenMsg is kube's message for a pod update that touches a
// field it may not.
const podUpdateForbiddenMsg = "pod updates may not change fields other than `spec.containers[*].image`, " +
	"`spec.initContainers[*].image`, `spec.activeDeadlineSeconds`, `spec.tolerations` (only additions to existing tolerations), " +
	"`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative), " +
	"`spec.schedulingGates` (only removals)"

// validatePodUpdate enforces that a pod's spec is immutable except for the
// containers' and init containers' images, activeDeadlineSeconds (set, or
// lowered), added tolerations, removed scheduling gates and a negative
// terminationGracePeriodSeconds raised to 1. Any other change is a
// field.Forbidden at spec naming the fields that changed.
func validatePodUpdate(pod, old *corev1.Pod) field.ErrorList {
	var errs field.ErrorList
	specPath := field.NewPath("spec")
	if o := old.Spec.ActiveDeadlineSeconds; o != nil {
		n := pod.Spec.ActiveDeadlineSeconds
		switch {
		case n == nil:
			errs = append(errs, field.Invalid(specPath.Child("activeDeadlineSeconds"), n, "must not update from a positive integer to nil value"))
		case *n > *o:
			errs = append(errs, field.Invalid(specPath.Child("activeDeadlineSeconds"), *n, "must be less than or equal to previous value"))
		}
	}

	// Take the new spec, put back the old value of everything that may
	// change, and what remains different is forbidden.
	mutated := pod.Spec.DeepCopy()
	if len(mutated.Containers) == len(old.Spec.Containers) {
		for i := range mutated.Containers {
			mutated.Containers[i].Image = old.Spec.Containers[i].Image
		}
	}
	if len(mutated.InitContainers) == len(old.Spec.InitContainers) {
		for i := range mutated.InitContainers {
			mutated.InitContainers[i].Image = old.Spec.InitContainers[i].Image
		}
	}
	mutated.ActiveDeadlineSeconds = old.Spec.ActiveDeadlineSeconds
	if containsAll(mutated.Tolerations, old.Spec.Tolerations) {
		mutated.Tolerations = old.Spec.Tolerations
	}
	if containsAll(old.Spec.SchedulingGates, mutated.SchedulingGates) {
		mutated.SchedulingGates = old.Spec.SchedulingGates
	}
	if o, n := old.Spec.TerminationGracePeriodSeconds, mutated.TerminationGracePeriodSeconds; o != nil && *o < 0 && n != nil && *n == 1 {
		mutated.TerminationGracePeriodSeconds = o
	}
	if !apiequality.Semantic.DeepEqual(*mutated, old.Spec) {
		msg := podUpdateForbiddenMsg
		if changed := changedFields(*mutated, old.Spec); len(changed) > 0 {
			msg += "; changed: " + strings.Join(changed, ", ")
		}
		errs = append(errs, field.Forbidden(specPath, msg))
	}
	return errs
}

// containsAll reports whether every element of want is in have.
func containsAll[T any](have, want []T) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			if reflect.DeepEqual(h, w) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// changedFields lists, sorted, the top-level JSON fields of a and b (two
// values of one struct type) whose values differ: "containers",
// "nodeName". It returns nil when either does not encode to an object.
func changedFields(a, b any) []string {
	var ma, mb map[string]json.RawMessage
	if ja, err := json.Marshal(a); err != nil || json.Unmarshal(ja, &ma) != nil {
		return nil
	}
	if jb, err := json.Marshal(b); err != nil || json.Unmarshal(jb, &mb) != nil {
		return nil
	}
	var out []string
	for k, va := range ma {
		if vb, ok := mb[k]; !ok || string(va) != string(vb) {
			out = append(out, k)
		}
	}
	for k := range mb {
		if _, ok := ma[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// dnsLabel reports at path a value that is not an RFC 1123 label.
func dnsLabel(value string, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsDNS1123Label(value) {
		errs = append(errs, field.Invalid(path, value, msg))
	}
	return errs
}

// portNumber reports at path a port outside 1-65535.
func portNumber(port int32, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsValidPortNum(int(port)) {
		errs = append(errs, field.Invalid(path, port, msg))
	}
	return errs
}

package envvar

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// ErrConfig is wrapped by errors about a container's configuration that a
// retry cannot fix until someone creates the missing object or key: a
// ConfigMap, Secret or key that is not optional, or an unsupported field
// reference. The error text is the kubelet's, for the container's
// CreateContainerConfigError message.
var ErrConfig = errors.New("container configuration error")

// configError carries the kubelet's message and wraps ErrConfig and the
// cause, if any.
type configError struct {
	msg   string
	cause error
}

func (e *configError) Error() string { return e.msg }

func (e *configError) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrConfig}
	}
	return []error{ErrConfig, e.cause}
}

func configErrorf(cause error, format string, args ...any) error {
	return &configError{msg: fmt.Sprintf(format, args...), cause: cause}
}

// Lister reads the objects a container's environment refers to. The agent
// backs it with informer caches or the API client; a missing object must be
// reported as a Kubernetes NotFound error (apierrors.IsNotFound).
type Lister interface {
	ConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error)
	Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
	// Services lists the Services of one namespace.
	Services(namespace string) ([]*corev1.Service, error)
}

// Config is what Resolve needs to know about the cluster and the node.
type Config struct {
	// MasterServiceHost and MasterServicePort are the kubernetes Service's
	// ClusterIP and port (default 443); every container gets its
	// KUBERNETES_SERVICE_* and KUBERNETES_PORT* variables. Empty host: none.
	MasterServiceHost string
	MasterServicePort int32
	// Lister reads ConfigMaps, Secrets and Services.
	Lister Lister
	// NodeName and NodeIP are the node's; NodeIP is status.hostIP.
	NodeName, NodeIP string
	// NodeAllocatable is used for resourceFieldRef limits the container
	// does not set.
	NodeAllocatable corev1.ResourceList
	// Warn, when set, receives problems that do not stop the container
	// (reason, message), for the agent to post as Warning events on the
	// pod; today InvalidEnvironmentVariableNames.
	Warn func(reason, message string)
}

// Resolve returns the environment of container c of pod as "NAME=value"
// strings, computed like the kubelet: first the service variables (when
// pod.Spec.EnableServiceLinks is nil or true, of every Service with a
// cluster IP in the pod's namespace; always those of the kubernetes
// Service), then the variables of c.EnvFrom, then c.Env in order. Each
// name appears once; a later definition replaces an earlier one and moves
// it to the later position. A value's $(VAR) references are expanded
// against the variables defined before it and the service variables.
//
// podIP is the sandbox's primary IP (status.podIP); status.podIPs adds the
// pod's other status IPs.
//
// A missing ConfigMap, Secret or key that is not optional is an error
// wrapping ErrConfig; an error reading one is returned wrapped as it is.
func Resolve(ctx context.Context, cfg Config, pod *corev1.Pod, c *corev1.Container, podIP string) ([]string, error) {
	r := resolver{cfg: cfg, pod: pod, c: c, podIP: podIP,
		configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}}
	return r.resolve(ctx)
}

type resolver struct {
	cfg        Config
	pod        *corev1.Pod
	c          *corev1.Container
	podIP      string
	configMaps map[string]*corev1.ConfigMap // nil entry: optional and missing
	secrets    map[string]*corev1.Secret
}

func (r *resolver) resolve(ctx context.Context) ([]string, error) {
	services, err := r.services()
	if err != nil {
		return nil, err
	}
	svcVars := serviceVars(services)
	svcEnv := make(map[string]string, len(svcVars))
	for _, v := range svcVars {
		svcEnv[v.name] = v.value
	}

	env := map[string]string{}
	var order []string // names in env, in order of their last definition
	set := func(name, value string) {
		if _, ok := env[name]; ok {
			order = slices.DeleteFunc(order, func(n string) bool { return n == name })
		}
		env[name] = value
		order = append(order, name)
	}

	for _, from := range r.c.EnvFrom {
		if err := r.envFrom(ctx, from, set); err != nil {
			return nil, err
		}
	}
	lookup := lookupIn(env, svcEnv)
	for _, e := range r.c.Env {
		value := e.Value
		switch {
		case value != "":
			value = Expand(value, lookup)
		case e.ValueFrom != nil:
			v, ok, err := r.valueFrom(ctx, e)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue // optional and missing: the variable is not set
			}
			value = v
		}
		set(e.Name, value)
	}

	out := make([]string, 0, len(svcVars)+len(order))
	for _, v := range svcVars {
		if _, ok := env[v.name]; !ok {
			out = append(out, v.name+"="+v.value)
		}
	}
	for _, name := range order {
		out = append(out, name+"="+env[name])
	}
	return out, nil
}

// services returns the Services whose variables the container gets.
func (r *resolver) services() ([]*corev1.Service, error) {
	byName := map[string]*corev1.Service{}
	if r.cfg.MasterServiceHost != "" {
		port := r.cfg.MasterServicePort
		if port == 0 {
			port = 443
		}
		byName["kubernetes"] = &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: metav1.NamespaceDefault},
			Spec: corev1.ServiceSpec{
				ClusterIP: r.cfg.MasterServiceHost,
				Ports:     []corev1.ServicePort{{Name: "https", Port: port, Protocol: corev1.ProtocolTCP}},
			},
		}
	}
	links := r.pod.Spec.EnableServiceLinks
	if links == nil || *links {
		if r.cfg.Lister == nil {
			return nil, fmt.Errorf("list services of namespace %s: no lister configured", r.pod.Namespace)
		}
		list, err := r.cfg.Lister.Services(r.pod.Namespace)
		if err != nil {
			return nil, fmt.Errorf("list services of namespace %s: %w", r.pod.Namespace, err)
		}
		for _, svc := range list {
			// A Service of the pod's namespace wins over the kubernetes
			// Service of the default namespace, as with the kubelet.
			byName[svc.Name] = svc
		}
	}
	out := make([]*corev1.Service, 0, len(byName))
	for _, svc := range byName {
		out = append(out, svc)
	}
	return out, nil
}

// envFrom defines the variables of one envFrom source.
func (r *resolver) envFrom(ctx context.Context, from corev1.EnvFromSource, set func(name, value string)) error {
	var (
		data     = map[string]string{}
		kind     string
		name     string
		optional bool
	)
	switch {
	case from.ConfigMapRef != nil:
		kind, name, optional = "configMap", from.ConfigMapRef.Name, isTrue(from.ConfigMapRef.Optional)
		cm, err := r.configMap(ctx, name, optional)
		if err != nil || cm == nil {
			return err
		}
		for k, v := range cm.Data {
			data[k] = v
		}
	case from.SecretRef != nil:
		kind, name, optional = "secret", from.SecretRef.Name, isTrue(from.SecretRef.Optional)
		s, err := r.secret(ctx, name, optional)
		if err != nil || s == nil {
			return err
		}
		for k, v := range s.Data {
			data[k] = string(v)
		}
	default:
		return nil
	}
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var invalid []string
	for _, k := range keys {
		n := from.Prefix + k
		if errs := validation.IsRelaxedEnvVarName(n); len(errs) > 0 {
			invalid = append(invalid, n)
			continue
		}
		set(n, data[k])
	}
	if len(invalid) > 0 && r.cfg.Warn != nil {
		r.cfg.Warn("InvalidEnvironmentVariableNames", fmt.Sprintf(
			"Keys [%s] from the EnvFrom %s %s/%s were skipped since they are considered invalid environment variable names.",
			strings.Join(invalid, ", "), kind, r.pod.Namespace, name))
	}
	return nil
}

// valueFrom returns the value of an env entry with valueFrom; ok is false
// when an optional source or key is missing and the variable is left out.
func (r *resolver) valueFrom(ctx context.Context, e corev1.EnvVar) (value string, ok bool, err error) {
	src := e.ValueFrom
	switch {
	case src.ConfigMapKeyRef != nil:
		ref := src.ConfigMapKeyRef
		optional := isTrue(ref.Optional)
		cm, err := r.configMap(ctx, ref.Name, optional)
		if err != nil || cm == nil {
			return "", false, err
		}
		v, found := cm.Data[ref.Key]
		if !found {
			if optional {
				return "", false, nil
			}
			return "", false, configErrorf(nil, "couldn't find key %s in ConfigMap %s/%s", ref.Key, r.pod.Namespace, ref.Name)
		}
		return v, true, nil
	case src.SecretKeyRef != nil:
		ref := src.SecretKeyRef
		optional := isTrue(ref.Optional)
		s, err := r.secret(ctx, ref.Name, optional)
		if err != nil || s == nil {
			return "", false, err
		}
		v, found := s.Data[ref.Key]
		if !found {
			if optional {
				return "", false, nil
			}
			return "", false, configErrorf(nil, "couldn't find key %s in Secret %s/%s", ref.Key, r.pod.Namespace, ref.Name)
		}
		return string(v), true, nil
	case src.FieldRef != nil:
		v, err := r.field(src.FieldRef.FieldPath)
		if err != nil {
			return "", false, configErrorf(err, "env %s of container %s: %v", e.Name, r.c.Name, err)
		}
		return v, true, nil
	case src.ResourceFieldRef != nil:
		c := r.c
		if n := src.ResourceFieldRef.ContainerName; n != "" && n != c.Name {
			if c = ContainerByName(r.pod, n); c == nil {
				return "", false, configErrorf(nil, "env %s of container %s: no container %q in pod", e.Name, r.c.Name, n)
			}
		}
		v, err := ResourceValue(c, src.ResourceFieldRef, r.cfg.NodeAllocatable)
		if err != nil {
			return "", false, configErrorf(err, "env %s of container %s: %v", e.Name, r.c.Name, err)
		}
		return v, true, nil
	}
	return "", true, nil
}

// field returns a fieldRef value; status and spec fields come from the
// node's view, the rest from the pod's metadata.
func (r *resolver) field(path string) (string, error) {
	switch path {
	case "spec.nodeName":
		if r.pod.Spec.NodeName != "" {
			return r.pod.Spec.NodeName, nil
		}
		return r.cfg.NodeName, nil
	case "spec.serviceAccountName":
		return r.pod.Spec.ServiceAccountName, nil
	case "status.hostIP":
		return r.cfg.NodeIP, nil
	case "status.hostIPs":
		return r.cfg.NodeIP, nil
	case "status.podIP":
		return r.podIP, nil
	case "status.podIPs":
		return strings.Join(r.podIPs(), ","), nil
	}
	return FieldValue(r.pod, path)
}

// podIPs is podIP followed by the other IPs in the pod's status.
func (r *resolver) podIPs() []string {
	var ips []string
	if r.podIP != "" {
		ips = append(ips, r.podIP)
	}
	for _, ip := range r.pod.Status.PodIPs {
		if ip.IP != "" && !slices.Contains(ips, ip.IP) {
			ips = append(ips, ip.IP)
		}
	}
	return ips
}

// configMap gets a ConfigMap once per Resolve; nil, nil when it is missing
// and optional.
func (r *resolver) configMap(ctx context.Context, name string, optional bool) (*corev1.ConfigMap, error) {
	if cm, ok := r.configMaps[name]; ok && (cm != nil || optional) {
		return cm, nil
	}
	if r.cfg.Lister == nil {
		return nil, fmt.Errorf("get configmap %s/%s: no lister configured", r.pod.Namespace, name)
	}
	cm, err := r.cfg.Lister.ConfigMap(ctx, r.pod.Namespace, name)
	switch {
	case apierrors.IsNotFound(err):
		r.configMaps[name] = nil
		if optional {
			return nil, nil
		}
		return nil, configErrorf(err, "configmap %q not found", name)
	case err != nil:
		return nil, fmt.Errorf("get configmap %s/%s: %w", r.pod.Namespace, name, err)
	}
	r.configMaps[name] = cm
	return cm, nil
}

// secret gets a Secret once per Resolve; nil, nil when it is missing and
// optional.
func (r *resolver) secret(ctx context.Context, name string, optional bool) (*corev1.Secret, error) {
	if s, ok := r.secrets[name]; ok && (s != nil || optional) {
		return s, nil
	}
	if r.cfg.Lister == nil {
		return nil, fmt.Errorf("get secret %s/%s: no lister configured", r.pod.Namespace, name)
	}
	s, err := r.cfg.Lister.Secret(ctx, r.pod.Namespace, name)
	switch {
	case apierrors.IsNotFound(err):
		r.secrets[name] = nil
		if optional {
			return nil, nil
		}
		return nil, configErrorf(err, "secret %q not found", name)
	case err != nil:
		return nil, fmt.Errorf("get secret %s/%s: %w", r.pod.Namespace, name, err)
	}
	r.secrets[name] = s
	return s, nil
}

func isTrue(b *bool) bool { return b != nil && *b }

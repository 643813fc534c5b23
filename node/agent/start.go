package agent

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sqlkube/sqlkube/node/envvar"
	"github.com/sqlkube/sqlkube/node/logs"
	"github.com/sqlkube/sqlkube/node/runtime"
)

// startContainer creates and starts attempt number attempt of container c.
// When it cannot, it records why c waits (ErrImagePull, ImagePullBackOff,
// CreateContainerConfigError, CreateContainerError) or why its start failed,
// with an Event, and returns when to try again.
func (a *Agent) startContainer(ctx context.Context, w *podWorker, pod *corev1.Pod, sb runtime.Sandbox, c *corev1.Container, attempt int, init bool) time.Duration {
	img, retry := a.ensureImage(ctx, w, pod, c)
	if retry > 0 {
		return retry
	}
	cfg, err := a.containerConfig(ctx, pod, c, sb, img, attempt, init)
	if err != nil {
		w.waiting[c.Name] = corev1.ContainerStateWaiting{Reason: "CreateContainerConfigError", Message: err.Error()}
		a.eventOnce(w, pod, corev1.EventTypeWarning, "Failed", "Error: %v", err)
		return 5 * time.Second
	}
	id, err := a.rt.CreateContainer(ctx, sb, cfg)
	if err != nil {
		a.runtimeError("create container", pod, err)
		w.waiting[c.Name] = corev1.ContainerStateWaiting{Reason: "CreateContainerError", Message: err.Error()}
		a.eventOnce(w, pod, corev1.EventTypeWarning, "Failed", "Error: %v", err)
		return 5 * time.Second
	}
	a.event(pod, corev1.EventTypeNormal, "Created", "Created container %s", c.Name)
	delete(w.waiting, c.Name)
	if err := a.rt.StartContainer(ctx, id); err != nil {
		a.runtimeError("start container", pod, err)
		w.startErr[id] = err.Error()
		a.event(pod, corev1.EventTypeWarning, "Failed", "Error: %v", err)
		return time.Second
	}
	a.event(pod, corev1.EventTypeNormal, "Started", "Started container %s", c.Name)
	a.ensureProbes(w, pod, c, id, sb.IP)
	return 0
}

// ensureImage returns c's image, pulled as its imagePullPolicy says; when
// it cannot, it records ErrImagePull (then ImagePullBackOff while the
// back-off runs) and returns when to try again.
func (a *Agent) ensureImage(ctx context.Context, w *podWorker, pod *corev1.Pod, c *corev1.Container) (runtime.ImageInfo, time.Duration) {
	now := time.Now()
	b := w.pullBack[c.Image]
	if b != nil && now.Before(b.until) {
		w.waiting[c.Name] = corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: fmt.Sprintf("Back-off pulling image %q", c.Image)}
		a.eventOnce(w, pod, corev1.EventTypeNormal, "BackOff", "Back-off pulling image %q", c.Image)
		return runtime.ImageInfo{}, b.until.Sub(now)
	}
	policy := c.ImagePullPolicy
	if policy == "" {
		policy = corev1.PullIfNotPresent
		if !strings.Contains(lastSegment(c.Image), ":") || strings.HasSuffix(c.Image, ":latest") {
			policy = corev1.PullAlways
		}
	}
	if policy != corev1.PullAlways {
		img, ok, err := a.rt.GetImage(ctx, c.Image)
		if err == nil && ok {
			a.eventOnce(w, pod, corev1.EventTypeNormal, "Pulled", "Container image %q already present on machine", c.Image)
			return img, 0
		}
		if policy == corev1.PullNever {
			msg := fmt.Sprintf("Container image %q is not present with pull policy of Never", c.Image)
			w.waiting[c.Name] = corev1.ContainerStateWaiting{Reason: "ErrImageNeverPull", Message: msg}
			a.eventOnce(w, pod, corev1.EventTypeWarning, "ErrImageNeverPull", "%s", msg)
			return runtime.ImageInfo{}, 10 * time.Second
		}
	}
	creds, err := a.pullCredentials(ctx, pod)
	if err != nil {
		a.log.Warn("image pull secrets", "pod", pod.Namespace+"/"+pod.Name, "err", err)
	}
	a.freeStartSlot(w) // a pull may take long: other pods start meanwhile
	a.event(pod, corev1.EventTypeNormal, "Pulling", "Pulling image %q", c.Image)
	start := time.Now()
	img, err := a.rt.PullImage(ctx, c.Image, creds)
	if err != nil {
		a.runtimeError("pull image", pod, err)
		if b == nil {
			b = &backoff{}
			w.pullBack[c.Image] = b
		}
		b.next(time.Now())
		msg := fmt.Sprintf("Failed to pull image %q: %v", c.Image, err)
		w.waiting[c.Name] = corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: msg}
		a.event(pod, corev1.EventTypeWarning, "Failed", "%s", msg)
		a.event(pod, corev1.EventTypeWarning, "Failed", "Error: ErrImagePull")
		return runtime.ImageInfo{}, b.until.Sub(time.Now())
	}
	delete(w.pullBack, c.Image)
	a.event(pod, corev1.EventTypeNormal, "Pulled", "Successfully pulled image %q in %s", c.Image, time.Since(start).Round(time.Millisecond))
	return img, 0
}

// lastSegment is what follows the last "/" of an image reference: its
// name and tag.
func lastSegment(ref string) string {
	if i := strings.LastIndex(ref, "/"); i >= 0 {
		return ref[i+1:]
	}
	return ref
}

// pullCredentials reads the pod's imagePullSecrets (.dockerconfigjson and
// the older .dockercfg).
func (a *Agent) pullCredentials(ctx context.Context, pod *corev1.Pod) ([]runtime.Credential, error) {
	var creds []runtime.Credential
	var errs []error
	for _, ref := range pod.Spec.ImagePullSecrets {
		s, err := a.client.CoreV1().Secrets(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			errs = append(errs, fmt.Errorf("secret %s/%s: %w", pod.Namespace, ref.Name, err))
			continue
		}
		var auths map[string]dockerAuth
		if b, ok := s.Data[corev1.DockerConfigJsonKey]; ok {
			var cfg struct {
				Auths map[string]dockerAuth `json:"auths"`
			}
			err = json.Unmarshal(b, &cfg)
			auths = cfg.Auths
		} else if b, ok := s.Data[corev1.DockerConfigKey]; ok {
			err = json.Unmarshal(b, &auths)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("secret %s/%s: %w", pod.Namespace, ref.Name, err))
			continue
		}
		for host, au := range auths {
			cr := runtime.Credential{Host: registryHost(host), Username: au.Username, Password: au.Password, Auth: au.Auth, IdentityToken: au.IdentityToken}
			if cr.Username == "" && au.Auth != "" {
				if dec, err := base64.StdEncoding.DecodeString(au.Auth); err == nil {
					cr.Username, cr.Password, _ = strings.Cut(string(dec), ":")
				}
			}
			creds = append(creds, cr)
		}
	}
	return creds, errors.Join(errs...)
}

type dockerAuth struct {
	Username      string `json:"username"`
	Password      string `json:"password"`
	Auth          string `json:"auth"`
	IdentityToken string `json:"identitytoken"`
}

// registryHost is the host of a docker config key, which may be a URL.
func registryHost(key string) string {
	key = strings.TrimPrefix(strings.TrimPrefix(key, "https://"), "http://")
	host, _, _ := strings.Cut(key, "/")
	if host == "index.docker.io" {
		return "docker.io"
	}
	return host
}

// containerConfig turns container c of pod into what the runtime runs:
// its environment, mounts, limits and security settings.
func (a *Agent) containerConfig(ctx context.Context, pod *corev1.Pod, c *corev1.Container, sb runtime.Sandbox, img runtime.ImageInfo, attempt int, init bool) (runtime.ContainerConfig, error) {
	ec := a.envConfig()
	ec.Warn = func(reason, msg string) { a.event(pod, corev1.EventTypeWarning, reason, "%s", msg) }
	env, err := envvar.Resolve(ctx, ec, pod, c, sb.IP)
	if err != nil {
		return runtime.ContainerConfig{}, err
	}
	mounts, err := a.volumes.MountsWithEnv(pod, c, env)
	if err != nil {
		return runtime.ContainerConfig{}, err
	}
	logPath := a.logPath(pod, c.Name, attempt)
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return runtime.ContainerConfig{}, fmt.Errorf("log directory of container %s: %w", c.Name, err)
	}
	cfg := runtime.ContainerConfig{
		Name: c.Name, Attempt: attempt, Image: img,
		Command: c.Command, Args: c.Args, Env: env, WorkingDir: c.WorkingDir,
		TTY: c.TTY, Stdin: c.Stdin, StdinOnce: c.StdinOnce,
		LogPath: logPath,
		Labels: map[string]string{
			labelPodUID: string(pod.UID), labelPodName: pod.Name, labelPodNamespace: pod.Namespace,
			labelContainer: c.Name, labelAttempt: strconv.Itoa(attempt), labelInit: strconv.FormatBool(init),
		},
	}
	for _, m := range mounts {
		cfg.Mounts = append(cfg.Mounts, runtime.Mount{HostPath: m.HostPath, ContainerPath: m.ContainerPath, ReadOnly: m.ReadOnly})
	}
	if mem, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
		cfg.MemoryLimit = mem.Value()
	}
	if cpu, ok := c.Resources.Limits[corev1.ResourceCPU]; ok && cpu.MilliValue() > 0 {
		cfg.CPUPeriod = 100000
		cfg.CPUQuota = max(cpu.MilliValue()*cfg.CPUPeriod/1000, 1000)
	}
	cfg.CPUShares = 2
	if cpu, ok := c.Resources.Requests[corev1.ResourceCPU]; ok {
		cfg.CPUShares = uint64(max(cpu.MilliValue()*1024/1000, 2))
	}
	if psc := pod.Spec.SecurityContext; psc != nil {
		cfg.RunAsUser, cfg.RunAsGroup, cfg.SupplementalGroups = psc.RunAsUser, psc.RunAsGroup, psc.SupplementalGroups
	}
	if sc := c.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			cfg.RunAsUser = sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			cfg.RunAsGroup = sc.RunAsGroup
		}
		cfg.ReadOnlyRootfs = sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem
		cfg.Privileged = sc.Privileged != nil && *sc.Privileged
		if caps := sc.Capabilities; caps != nil {
			for _, c := range caps.Add {
				cfg.CapAdd = append(cfg.CapAdd, string(c))
			}
			for _, c := range caps.Drop {
				cfg.CapDrop = append(cfg.CapDrop, string(c))
			}
		}
	}
	return cfg, nil
}

// envConfig is what resolving a container's environment needs of the
// node: the kubernetes Service's address, the Services of the pod's
// namespace, ConfigMaps and Secrets.
func (a *Agent) envConfig() envvar.Config {
	cfg := envvar.Config{Lister: envLister{a}, NodeName: a.cfg.NodeName, NodeIP: a.hostIP}
	if svc, err := a.services.Services(metav1.NamespaceDefault).Get("kubernetes"); err == nil {
		cfg.MasterServiceHost = svc.Spec.ClusterIP
		for _, p := range svc.Spec.Ports {
			if p.Name == "https" || cfg.MasterServicePort == 0 {
				cfg.MasterServicePort = p.Port
			}
		}
	}
	if n := a.node.Load(); n != nil {
		cfg.NodeAllocatable = n.Status.Allocatable
	}
	return cfg
}

// envLister reads ConfigMaps and Secrets through the API (only the
// pods' own, which the node authorizer lets the node read) and Services
// from the agent's cache.
type envLister struct{ a *Agent }

func (l envLister) ConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error) {
	return l.a.client.CoreV1().ConfigMaps(namespace).Get(ctx, name, metav1.GetOptions{})
}

func (l envLister) Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	return l.a.client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
}

func (l envLister) Services(namespace string) ([]*corev1.Service, error) {
	return l.a.services.Services(namespace).List(everything)
}

// logPath is where attempt attempt of container name of pod logs, as the
// kubelet lays it out: NAMESPACE_NAME_UID/CONTAINER/ATTEMPT.log.
func (a *Agent) logPath(pod *corev1.Pod, name string, attempt int) string {
	return filepath.Join(a.podLogDir(pod.Namespace, pod.Name, string(pod.UID)), name, strconv.Itoa(attempt)+".log")
}

func (a *Agent) podLogDir(namespace, name, uid string) string {
	return filepath.Join(a.logsDir, namespace+"_"+name+"_"+uid)
}

// removeContainer removes an old attempt of a container and its log.
func (a *Agent) removeContainer(ctx context.Context, pod *corev1.Pod, c runtime.ContainerStatus) {
	if err := a.rt.RemoveContainer(ctx, c.ID); err != nil {
		a.runtimeError("remove container", pod, err)
		return
	}
	if c.LogPath != "" {
		if err := logs.Remove(c.LogPath); err != nil {
			a.log.Warn("remove container log", "path", c.LogPath, "err", err)
		}
	}
}

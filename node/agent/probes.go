package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/sqlkube/sqlkube/node/runtime"
)

// probeState holds the probe results of one running container. Its
// probes run in goroutines of their own, which stop with the container.
type probeState struct {
	container string
	cancel    context.CancelFunc
	started   atomic.Bool // startup probe passed (or none)
	ready     atomic.Bool // readiness probe passed (or none, once started)
	unhealthy atomic.Bool // liveness or startup probe failed: restart
	failed    atomic.Value
}

func (p *probeState) failedProbe() string {
	if s, ok := p.failed.Load().(string); ok {
		return s
	}
	return "liveness"
}

func (w *podWorker) probeState(id string) *probeState {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.probes[id]
}

func (w *podWorker) dropProbes(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if p := w.probes[id]; p != nil {
		p.cancel()
		delete(w.probes, id)
	}
}

func (w *podWorker) stopProbes() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, p := range w.probes {
		p.cancel()
		delete(w.probes, id)
	}
}

// ensureProbes starts the probes of running container id (c of pod), once.
func (a *Agent) ensureProbes(w *podWorker, pod *corev1.Pod, c *corev1.Container, id, ip string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.probes[id] != nil {
		return
	}
	// Probes of earlier attempts stop with them.
	for other, p := range w.probes {
		if p.container == c.Name {
			p.cancel()
			delete(w.probes, other)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	ps := &probeState{container: c.Name, cancel: cancel}
	ps.started.Store(c.StartupProbe == nil)
	ps.ready.Store(c.ReadinessProbe == nil)
	w.probes[id] = ps
	if ip == "" {
		ip = a.hostIP
	}
	run := func(kind string, p *corev1.Probe) {
		if p != nil {
			go a.probeLoop(ctx, w, pod, c, id, ip, kind, p, ps)
		}
	}
	run("startup", c.StartupProbe)
	run("liveness", c.LivenessProbe)
	run("readiness", c.ReadinessProbe)
}

// probeLoop runs one probe of a container every periodSeconds and records
// its result, kicking the worker when the result changes what the pod
// status says or when the container must restart.
func (a *Agent) probeLoop(ctx context.Context, w *podWorker, pod *corev1.Pod, c *corev1.Container, id, ip, kind string, p *corev1.Probe, ps *probeState) {
	period := time.Duration(max(p.PeriodSeconds, 1)) * time.Second
	success, failure := max(p.SuccessThreshold, 1), max(p.FailureThreshold, 1)
	if kind != "readiness" {
		success = 1
	}
	select {
	case <-ctx.Done():
		return
	case <-time.After(time.Duration(p.InitialDelaySeconds) * time.Second):
	}
	ticker := time.NewTicker(period)
	defer ticker.Stop()
	var ok, bad int32
	for {
		if kind == "startup" || ps.started.Load() {
			passed, msg := a.probeOnce(ctx, c, id, ip, p)
			if ctx.Err() != nil {
				return
			}
			if passed {
				ok, bad = ok+1, 0
			} else {
				ok, bad = 0, bad+1
				a.event(pod, corev1.EventTypeWarning, "Unhealthy", "%s probe failed: %s", strings.ToUpper(kind[:1])+kind[1:], msg)
			}
			switch kind {
			case "startup":
				if ok >= success {
					ps.started.Store(true)
					w.poke()
					return
				}
				if bad >= failure {
					ps.failed.Store("startup")
					ps.unhealthy.Store(true)
					w.poke()
					return
				}
			case "liveness":
				if bad >= failure {
					ps.failed.Store("liveness")
					ps.unhealthy.Store(true)
					w.poke()
					return
				}
			case "readiness":
				if ok >= success && !ps.ready.Load() {
					ps.ready.Store(true)
					w.poke()
				} else if bad >= failure && ps.ready.Load() {
					ps.ready.Store(false)
					w.poke()
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// probeClient sends HTTP probes: no keep-alive (each probe is a fresh
// connection, as the kubelet's), no certificate checks, as the kubelet.
var probeClient = &http.Client{
	Transport: &http.Transport{
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // the kubelet does not verify probe targets
	},
	CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return http.ErrUseLastResponse
		}
		return nil
	},
}

// probeOnce runs probe p once against container id at ip.
func (a *Agent) probeOnce(ctx context.Context, c *corev1.Container, id, ip string, p *corev1.Probe) (bool, string) {
	timeout := time.Duration(max(p.TimeoutSeconds, 1)) * time.Second
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case p.Exec != nil:
		var out bytes.Buffer
		code, err := a.rt.Exec(ctx, id, p.Exec.Command, runtime.Streams{Stdout: &out, Stderr: &out})
		if err != nil {
			return false, err.Error()
		}
		if code != 0 {
			return false, fmt.Sprintf("command %q exited with %d: %s", strings.Join(p.Exec.Command, " "), code, strings.TrimSpace(out.String()))
		}
		return true, ""
	case p.HTTPGet != nil:
		url, err := probeURL(p.HTTPGet, c, ip)
		if err != nil {
			return false, err.Error()
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, err.Error()
		}
		req.Header.Set("User-Agent", "kube-probe/1.32")
		for _, h := range p.HTTPGet.HTTPHeaders {
			req.Header.Set(h.Name, h.Value)
		}
		resp, err := probeClient.Do(req)
		if err != nil {
			return false, fmt.Sprintf("Get %q: %v", url, err)
		}
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return false, fmt.Sprintf("HTTP probe failed with statuscode: %d", resp.StatusCode)
		}
		return true, ""
	case p.TCPSocket != nil:
		port, err := resolvePort(p.TCPSocket.Port, c)
		if err != nil {
			return false, err.Error()
		}
		host := ip
		if p.TCPSocket.Host != "" {
			host = p.TCPSocket.Host
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return false, err.Error()
		}
		conn.Close()
		return true, ""
	default:
		return false, "unsupported probe handler (grpc probes are not supported by this node agent)"
	}
}

// probeURL is the URL of an HTTP probe or hook against a pod at ip.
func probeURL(h *corev1.HTTPGetAction, c *corev1.Container, ip string) (string, error) {
	port, err := resolvePort(h.Port, c)
	if err != nil {
		return "", err
	}
	host := ip
	if h.Host != "" {
		host = h.Host
	}
	scheme := strings.ToLower(string(h.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	path := h.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	return fmt.Sprintf("%s://%s%s", scheme, net.JoinHostPort(host, strconv.Itoa(port)), path), nil
}

// resolvePort turns a probe's port, a number or the name of one of the
// container's ports, into a number.
func resolvePort(p intstr.IntOrString, c *corev1.Container) (int, error) {
	if p.Type == intstr.Int {
		if p.IntVal <= 0 || p.IntVal > 65535 {
			return 0, fmt.Errorf("invalid port %d", p.IntVal)
		}
		return int(p.IntVal), nil
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil {
		return n, nil
	}
	return 0, fmt.Errorf("container %s has no port named %q", c.Name, p.StrVal)
}

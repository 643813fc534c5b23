package agentapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Summary is the node's and its pods' resource usage, shaped like the
// kubelet's stats/v1alpha1 Summary (the fields sqlkube fills).
type Summary struct {
	Node NodeStats  `json:"node"`
	Pods []PodStats `json:"pods"`
}

// NodeStats is the node's usage.
type NodeStats struct {
	NodeName string       `json:"nodeName"`
	CPU      *CPUStats    `json:"cpu,omitempty"`
	Memory   *MemoryStats `json:"memory,omitempty"`
}

// PodStats is a pod's usage and its containers'.
type PodStats struct {
	PodRef     PodReference     `json:"podRef"`
	CPU        *CPUStats        `json:"cpu,omitempty"`
	Memory     *MemoryStats     `json:"memory,omitempty"`
	Containers []ContainerStats `json:"containers"`
}

// PodReference names a pod.
type PodReference struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	UID       string `json:"uid"`
}

// ContainerStats is a container's usage.
type ContainerStats struct {
	Name   string       `json:"name"`
	CPU    *CPUStats    `json:"cpu,omitempty"`
	Memory *MemoryStats `json:"memory,omitempty"`
}

// CPUStats is CPU usage at Time.
type CPUStats struct {
	Time                 metav1.Time `json:"time"`
	UsageNanoCores       *uint64     `json:"usageNanoCores,omitempty"`
	UsageCoreNanoSeconds *uint64     `json:"usageCoreNanoSeconds,omitempty"`
}

// MemoryStats is memory usage at Time.
type MemoryStats struct {
	Time            metav1.Time `json:"time"`
	UsageBytes      *uint64     `json:"usageBytes,omitempty"`
	WorkingSetBytes *uint64     `json:"workingSetBytes,omitempty"`
}

// readOnlyHandler serves the read-only port: no authentication, as a
// kubelet's 10255.
func (s *Server) readOnlyHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := s.backend.Healthy(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok"))
	})
	mux.HandleFunc("GET /pods", func(w http.ResponseWriter, r *http.Request) {
		list := corev1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"}, Items: s.backend.Pods()}
		if list.Items == nil {
			list.Items = []corev1.Pod{}
		}
		writeJSON(w, list)
	})
	mux.HandleFunc("GET /stats/summary", func(w http.ResponseWriter, r *http.Request) {
		sum, err := s.backend.Summary(r.Context())
		if err != nil {
			http.Error(w, fmt.Sprintf("summary: %v", err), http.StatusInternalServerError)
			return
		}
		if sum.Pods == nil {
			sum.Pods = []PodStats{}
		}
		writeJSON(w, sum)
	})
	if s.cfg.Metrics != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(s.cfg.Metrics, promhttp.HandlerOpts{}))
	}
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// serveLogs streams a container's log as text, flushing as it writes
// while following.
func (s *Server) serveLogs(w http.ResponseWriter, r *http.Request) {
	ns, name, container := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	opts, err := logOptions(r, container)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if _, ok := s.findPod(w, ns, name, container); !ok {
		return
	}
	lw := &logWriter{w: w, flush: opts.Follow}
	err = s.backend.Logs(r.Context(), ns, name, opts, lw)
	switch {
	case err == nil, r.Context().Err() != nil:
		if !lw.started {
			lw.start()
		}
	case lw.started:
		// The status is sent: the stream ends here.
		s.log.Debug("container log stream failed", "namespace", ns, "pod", name, "container", container, "err", err)
	case errors.Is(err, ErrNotFound):
		http.Error(w, err.Error(), http.StatusNotFound)
	case errors.Is(err, ErrBadRequest):
		http.Error(w, err.Error(), http.StatusBadRequest)
	default:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// logOptions decodes the query kube-apiserver builds from PodLogOptions.
func logOptions(r *http.Request, container string) (LogOptions, error) {
	q := r.URL.Query()
	o := LogOptions{Container: container, Follow: boolParam(q.Get("follow")), Previous: boolParam(q.Get("previous")), Timestamps: boolParam(q.Get("timestamps"))}
	for _, p := range []struct {
		name string
		to   **int64
		min  int64
	}{{"tailLines", &o.TailLines, 0}, {"limitBytes", &o.LimitBytes, 1}, {"sinceSeconds", &o.SinceSeconds, 1}} {
		v := q.Get(p.name)
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < p.min {
			return o, fmt.Errorf("%s must be an integer of at least %d, not %q", p.name, p.min, v)
		}
		*p.to = &n
	}
	if v := q.Get("sinceTime"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return o, fmt.Errorf("sinceTime %q: %w", v, err)
		}
		o.SinceTime = &t
	}
	if o.SinceSeconds != nil && o.SinceTime != nil {
		return o, errors.New("at most one of sinceTime or sinceSeconds may be specified")
	}
	return o, nil
}

// boolParam reads a query flag as kube-apiserver writes them ("true").
func boolParam(v string) bool {
	b, err := strconv.ParseBool(v)
	return err == nil && b
}

// logWriter sends the 200 and its headers on the first write, so that
// an error before any output can still answer with a status, and
// flushes every write while following.
type logWriter struct {
	w       http.ResponseWriter
	flush   bool
	started bool
}

func (l *logWriter) start() {
	l.started = true
	l.w.Header().Set("Content-Type", "text/plain")
	l.w.WriteHeader(http.StatusOK)
	if l.flush {
		_ = http.NewResponseController(l.w).Flush()
	}
}

func (l *logWriter) Write(p []byte) (int, error) {
	if !l.started {
		l.start()
	}
	n, err := l.w.Write(p)
	if err == nil && l.flush {
		err = http.NewResponseController(l.w).Flush()
	}
	return n, err
}

package reconcile

import (
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"
)

// Config is what a controller is built from. Client and Informers are
// required; the informer factory is shared by all controllers of a process
// and started by the caller after every controller registered its informers.
type Config struct {
	Client    kubernetes.Interface
	Informers informers.SharedInformerFactory
	// RESTConfig is the client configuration, for controllers that need a
	// dynamic or metadata client (namespace deletion, garbage collection).
	// Nil in unit tests that use fake clients.
	RESTConfig *rest.Config
	Logger     *slog.Logger
	// RootCA is the PEM CA bundle published in every namespace's
	// kube-root-ca.crt ConfigMap (kube-controller-manager's
	// --root-ca-file); default: RESTConfig's CA.
	RootCA []byte

	// NodeMonitorGracePeriod is how long a node may go without renewing its
	// Lease before it is marked NotReady/Unknown (default 40s).
	NodeMonitorGracePeriod time.Duration
	// OrphanQuarantine is how long a node must be missing before the pods
	// bound to it are deleted (default 40s).
	OrphanQuarantine time.Duration

	// ClusterCIDR is the pod range node IPAM cuts the Nodes' ranges from
	// (default 10.244.0.0/16), NodeCIDRMaskSize their size (default 24).
	ClusterCIDR      string
	NodeCIDRMaskSize int

	recorders recorders
}

// Log returns the controller's logger (slog.Default when none was set),
// with the controller's name attached.
func (c *Config) Log(controller string) *slog.Logger {
	l := c.Logger
	if l == nil {
		l = slog.Default()
	}
	return l.With("controller", controller)
}

// Recorder returns an event recorder that posts Events as component. All
// recorders of a Config share one broadcaster.
func (c *Config) Recorder(component string) record.EventRecorder {
	return c.recorders.get(c.Client, component)
}

// Shutdown stops the event broadcaster, flushing queued events.
func (c *Config) Shutdown() { c.recorders.shutdown() }

type recorders struct {
	mu          sync.Mutex
	broadcaster record.EventBroadcaster
}

func (r *recorders) get(client kubernetes.Interface, component string) record.EventRecorder {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.broadcaster == nil {
		r.broadcaster = record.NewBroadcaster()
		r.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	}
	return r.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component})
}

func (r *recorders) shutdown() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.broadcaster != nil {
		r.broadcaster.Shutdown()
		r.broadcaster = nil
	}
}

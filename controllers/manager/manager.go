// Package manager runs the scheduler and the controllers of a sqlkube
// server: it elects a leader among the servers of a cluster through a
// coordination.k8s.io Lease (client-go leader election) and, while this
// process leads, runs the enabled controllers over one shared informer
// factory. Each controller talks to the API as its own user
// (system:controller:NAME), so history says which one made a change.
package manager

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/sqlkube/sqlkube/controllers/reconcile"
)

// ClientConfig returns the client configuration a component uses to talk
// to the API as user.
type ClientConfig func(user string) (*rest.Config, error)

// Options configure Run.
type Options struct {
	// Controllers selects what runs, kube-controller-manager style: "*" is
	// every controller on by default, "name" enables one, "-name" disables
	// one ("*,-job"). Nil means {"*"}. The scheduler is named "scheduler".
	Controllers []string
	// NodeMonitorGracePeriod: see reconcile.Config.
	NodeMonitorGracePeriod time.Duration
	// ClusterCIDR and NodeCIDRMaskSize: see reconcile.Config.
	ClusterCIDR      string
	NodeCIDRMaskSize int
	// LeaderElection makes the controllers run only in the server holding
	// the Lease kube-system/sqlkube-controller-manager. Without it they
	// run at once (a single server).
	LeaderElection bool
	// Identity names this process in the Lease (default: host name and a
	// random suffix).
	Identity string
	Logger   *slog.Logger
}

// Names returns the name of every controller Run knows, in start order.
func Names() []string {
	names := make([]string, len(registry))
	for i, c := range registry {
		names[i] = c.name
	}
	return names
}

// Enabled resolves a --controllers selection into the names to run. It
// fails on names it does not know.
func Enabled(selection []string) ([]string, error) {
	if selection == nil {
		selection = []string{"*"}
	}
	on := map[string]bool{}
	star := false
	for _, s := range selection {
		s = strings.TrimSpace(s)
		name := strings.TrimPrefix(s, "-")
		if s == "*" {
			star = true
			continue
		}
		if s == "" {
			continue
		}
		if !slices.Contains(Names(), name) {
			return nil, fmt.Errorf("unknown controller %q (known: %s)", name, strings.Join(Names(), ", "))
		}
		on[name] = !strings.HasPrefix(s, "-")
	}
	var out []string
	for _, c := range registry {
		enabled, set := on[c.name]
		if (set && enabled) || (!set && star) {
			out = append(out, c.name)
		}
	}
	return out, nil
}

// Run runs the selected controllers until ctx is done: at once, or while
// this process holds the leader Lease. A process that loses the Lease
// stops its controllers and competes again.
func Run(ctx context.Context, clientFor ClientConfig, opts Options) error {
	names, err := Enabled(opts.Controllers)
	if err != nil {
		return err
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	if len(names) == 0 {
		log.Info("no controllers enabled")
		<-ctx.Done()
		return nil
	}
	if !opts.LeaderElection {
		return runControllers(ctx, clientFor, names, opts, log)
	}
	cfg, err := clientFor("system:kube-controller-manager")
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("leader election client: %w", err)
	}
	id := opts.Identity
	if id == "" {
		host, _ := os.Hostname()
		id = host + "_" + string(uuid.NewUUID())
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: metav1.NamespaceSystem, Name: "sqlkube-controller-manager"},
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: id},
	}
	for ctx.Err() == nil {
		// The controllers run in the callback's goroutine; claimed makes
		// sure that they either ran to the end or never start, before
		// this process competes again or returns.
		var claimed sync.Once
		finished := make(chan error, 1)
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:            lock,
			Name:            "sqlkube-controller-manager",
			LeaseDuration:   15 * time.Second,
			RenewDeadline:   10 * time.Second,
			RetryPeriod:     2 * time.Second,
			ReleaseOnCancel: true,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(ctx context.Context) {
					run := false
					claimed.Do(func() { run = true })
					if !run {
						return
					}
					log.Info("leading: starting controllers", "identity", id, "controllers", names)
					finished <- runControllers(ctx, clientFor, names, opts, log)
				},
				OnStoppedLeading: func() { log.Info("not leading", "identity", id) },
			},
		})
		if err != nil {
			return fmt.Errorf("leader election: %w", err)
		}
		le.Run(ctx)
		claimed.Do(func() { finished <- nil })
		if err := <-finished; err != nil {
			return err
		}
	}
	return nil
}

// runControllers builds the named controllers over one informer factory,
// starts it, and runs them until ctx is done.
func runControllers(ctx context.Context, clientFor ClientConfig, names []string, opts Options, log *slog.Logger) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	shared, err := clientFor("system:kube-controller-manager")
	if err != nil {
		return err
	}
	informerClient, err := kubernetes.NewForConfig(shared)
	if err != nil {
		return fmt.Errorf("informer client: %w", err)
	}
	factory := informers.NewSharedInformerFactory(informerClient, 0)
	var started []*reconcile.Config
	defer func() {
		for _, c := range started {
			c.Shutdown()
		}
	}()
	var run []func(context.Context)
	for _, c := range registry {
		if !slices.Contains(names, c.name) {
			continue
		}
		user := "system:controller:" + c.name
		if c.name == "scheduler" {
			user = "system:kube-scheduler"
		}
		rc, err := clientFor(user)
		if err != nil {
			return err
		}
		client, err := kubernetes.NewForConfig(rc)
		if err != nil {
			return fmt.Errorf("client for %s: %w", c.name, err)
		}
		cfg := &reconcile.Config{
			Client:                 client,
			Informers:              factory,
			RESTConfig:             rc,
			Logger:                 log,
			NodeMonitorGracePeriod: opts.NodeMonitorGracePeriod,
			ClusterCIDR:            opts.ClusterCIDR,
			NodeCIDRMaskSize:       opts.NodeCIDRMaskSize,
		}
		started = append(started, cfg)
		r, err := c.build(cfg)
		if err != nil {
			return fmt.Errorf("controller %s: %w", c.name, err)
		}
		run = append(run, r)
	}
	factory.Start(ctx.Done())
	var wg sync.WaitGroup
	for _, r := range run {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r(ctx)
		}()
	}
	<-ctx.Done()
	wg.Wait()
	factory.Shutdown()
	return nil
}

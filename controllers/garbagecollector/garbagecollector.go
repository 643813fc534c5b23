package garbagecollector

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/cache"

	"github.com/sqlkube/sqlkube/controllers/reconcile"
)

// rediscoverEvery is how often the resource list is refreshed, to watch
// resources the server started serving.
const rediscoverEvery = 30 * time.Second

// ignored resources are never watched: there are many of them, and nothing
// owns them or is owned by them.
var ignored = map[schema.GroupResource]bool{
	{Group: "", Resource: "events"}:                 true,
	{Group: "events.k8s.io", Resource: "events"}:    true,
	{Group: "", Resource: "bindings"}:               true,
	{Group: "", Resource: "componentstatuses"}:      true,
	{Group: "authentication.k8s.io", Resource: "*"}: true,
}

// Controller is the garbage collector.
type Controller struct {
	metadata  metadata.Interface
	discovery discovery.DiscoveryInterface
	mapper    meta.RESTMapper
	graph     *graph
	queue     *reconcile.Queue
	absent    *uidSet
	log       *slog.Logger

	mu       sync.Mutex
	factory  metadatainformer.SharedInformerFactory
	monitors map[schema.GroupVersionResource]cache.SharedIndexInformer
}

// New builds the garbage collector. It needs cfg.RESTConfig (for the
// metadata client and informers); it does not use cfg.Informers, and it
// discovers the resources to watch when Run starts.
func New(cfg *reconcile.Config) *Controller {
	var md metadata.Interface
	if cfg.RESTConfig != nil {
		md = metadata.NewForConfigOrDie(cfg.RESTConfig)
	}
	disc := cfg.Client.Discovery()
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc))
	return newController(cfg, md, disc, mapper)
}

func newController(cfg *reconcile.Config, md metadata.Interface, disc discovery.DiscoveryInterface, mapper meta.RESTMapper) *Controller {
	c := &Controller{
		metadata:  md,
		discovery: disc,
		mapper:    mapper,
		absent:    newUIDSet(100_000),
		log:       cfg.Log("garbagecollector"),
		monitors:  map[schema.GroupVersionResource]cache.SharedIndexInformer{},
	}
	c.queue = reconcile.NewQueue("garbagecollector", c.log, c.sync)
	c.graph = newGraph(func(kind string, uid types.UID) { c.queue.Add(kind + "/" + string(uid)) })
	if md != nil {
		c.factory = metadatainformer.NewSharedInformerFactory(md, 0)
	}
	return c
}

// Run watches every deletable resource and collects garbage with workers
// goroutines until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	if c.metadata == nil {
		c.log.Error("no REST config: garbage collection disabled")
		<-ctx.Done()
		return
	}
	c.log.Info("starting")
	defer c.log.Info("stopped")
	for {
		err := c.syncMonitors(ctx)
		if err == nil {
			break
		}
		c.log.Warn("discover resources to watch; retrying", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
	go wait.UntilWithContext(ctx, func(ctx context.Context) {
		if err := c.syncMonitors(ctx); err != nil {
			c.log.Debug("rediscover resources", "err", err)
		}
	}, rediscoverEvery)
	defer c.factory.Shutdown()
	c.queue.Run(ctx, workers, c.hasSynced)
}

// hasSynced reports whether every watched resource's informer has synced.
func (c *Controller) hasSynced() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, inf := range c.monitors {
		if !inf.HasSynced() {
			return false
		}
	}
	return true
}

// deletableResources returns the resources to watch: those that support
// list, watch and delete, one version per group and resource. A partial
// discovery failure returns what was found and the error.
func deletableResources(disc discovery.DiscoveryInterface) (map[schema.GroupVersionResource]resourceInfo, error) {
	_, lists, err := disc.ServerGroupsAndResources()
	out := map[schema.GroupVersionResource]resourceInfo{}
	seen := map[schema.GroupResource]bool{}
	for _, l := range lists {
		gv, perr := schema.ParseGroupVersion(l.GroupVersion)
		if perr != nil {
			continue
		}
		for _, r := range l.APIResources {
			gr := schema.GroupResource{Group: gv.Group, Resource: r.Name}
			if strings.Contains(r.Name, "/") || ignored[gr] || ignored[schema.GroupResource{Group: gv.Group, Resource: "*"}] || seen[gr] ||
				!slices.Contains(r.Verbs, "list") || !slices.Contains(r.Verbs, "watch") || !slices.Contains(r.Verbs, "delete") {
				continue
			}
			seen[gr] = true
			gvr := gv.WithResource(r.Name)
			out[gvr] = resourceInfo{gvr: gvr, kind: r.Kind}
		}
	}
	if err != nil && len(out) == 0 {
		return nil, fmt.Errorf("discover deletable resources: %w", err)
	}
	return out, err
}

// syncMonitors starts an informer for every deletable resource not yet
// watched. Resources that disappear keep their informer (it only fails to
// list until they return).
func (c *Controller) syncMonitors(ctx context.Context) error {
	resources, err := deletableResources(c.discovery)
	if resources == nil {
		return err
	}
	c.mu.Lock()
	added := 0
	for gvr, res := range resources {
		if _, ok := c.monitors[gvr]; ok {
			continue
		}
		inf := c.factory.ForResource(gvr).Informer()
		if _, herr := inf.AddEventHandler(c.eventHandler(res)); herr != nil {
			c.mu.Unlock()
			return fmt.Errorf("watch %s: %w", gvr, herr)
		}
		c.monitors[gvr] = inf
		added++
	}
	c.mu.Unlock()
	if added > 0 {
		c.log.Debug("watching resources", "added", added, "total", len(c.monitors))
		c.factory.Start(ctx.Done())
	}
	if err != nil {
		c.log.Debug("partial discovery", "err", err)
	}
	return nil
}

// eventHandler feeds the graph from an informer of res.
func (c *Controller) eventHandler(res resourceInfo) cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if m, err := meta.Accessor(obj); err == nil {
				c.graph.observe(m, res)
			}
		},
		UpdateFunc: func(old, cur any) {
			if reconcile.Unchanged(old, cur) {
				return
			}
			if m, err := meta.Accessor(cur); err == nil {
				c.graph.observe(m, res)
			}
		},
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if m, err := meta.Accessor(obj); err == nil {
				c.graph.forget(m)
			}
		},
	}
}

// uidSet remembers UIDs known to be absent, up to max (then it starts
// over: it is a cache of live lookups, not a record).
type uidSet struct {
	mu  sync.Mutex
	m   map[types.UID]struct{}
	max int
}

func newUIDSet(max int) *uidSet { return &uidSet{m: map[types.UID]struct{}{}, max: max} }

func (s *uidSet) add(uid types.UID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= s.max {
		clear(s.m)
	}
	s.m[uid] = struct{}{}
}

func (s *uidSet) has(uid types.UID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.m[uid]
	return ok
}

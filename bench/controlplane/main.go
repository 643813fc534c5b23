// Command controlplane measures issue 5's control-plane targets on this
// machine, with everything on its cores: a `sqlkube server` (scheduler and
// controllers in it) and `sqlkube node --simulate` processes, driven
// through client-go. It prints one JSON object of figures.
//
//	go run ./bench/controlplane --sqlkube bin/sqlkube [--nodes 1000]
//
// Phases: register the simulated nodes; server CPU while they only
// heartbeat; scheduler throughput on pods created while the scheduler was
// off (the server restarts with it on); a node pool that dies and the
// pods it ran Running elsewhere; a Deployment scaled from 0 to --replicas,
// apply to all available; then to --max-pods, for the simulator's RSS.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/sqlkube/sqlkube/internal/testenv"
)

type options struct {
	sqlkube    string
	nodes      int
	pending    int
	replicas   int
	maxPods    int
	grace      time.Duration
	toleration int
	idleWindow time.Duration
	keep       bool
}

func main() {
	var o options
	flag.StringVar(&o.sqlkube, "sqlkube", "bin/sqlkube", "the sqlkube binary")
	flag.IntVar(&o.nodes, "nodes", 1000, "simulated nodes")
	flag.IntVar(&o.pending, "pending", 10000, "pending pods for the scheduler throughput phase")
	flag.IntVar(&o.replicas, "replicas", 10000, "Deployment replicas for the scale-up phase")
	flag.IntVar(&o.maxPods, "max-pods", 30000, "pods the simulator carries in the RSS phase")
	flag.DurationVar(&o.grace, "node-monitor-grace-period", 40*time.Second, "server flag for the node failure phase")
	flag.IntVar(&o.toleration, "toleration-seconds", 5, "default not-ready/unreachable toleration seconds")
	flag.DurationVar(&o.idleWindow, "idle-window", 30*time.Second, "how long idle CPU is sampled")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := run(ctx, o)
	out, _ := json.MarshalIndent(res, "", "  ")
	fmt.Println(string(out))
	if err != nil {
		slog.Error("benchmark failed", "err", err)
		os.Exit(1)
	}
}

// results are the figures, named after the targets.
type results struct {
	Machine                 string  `json:"machine"`
	Nodes                   int     `json:"nodes"`
	NodesReadySeconds       float64 `json:"nodes_ready_seconds"`
	IdleServerCPUPercent    float64 `json:"idle_server_cpu_percent_of_one_core"`
	IdleSimCPUPercent       float64 `json:"idle_simulator_cpu_percent_of_one_core"`
	PendingPods             int     `json:"pending_pods"`
	SchedulePodsPerSecond   float64 `json:"scheduler_pods_per_second"`
	ScheduleSeconds         float64 `json:"scheduler_first_to_last_bind_seconds"`
	ScheduleFromStart       float64 `json:"scheduler_start_to_last_bind_seconds"`
	FailoverSeconds         float64 `json:"failover_seconds"`
	FailoverOverSeconds     float64 `json:"failover_beyond_grace_and_toleration_seconds"`
	Replicas                int     `json:"replicas"`
	ScaleUpSeconds          float64 `json:"deployment_apply_to_all_running_seconds"`
	MaxPods                 int     `json:"max_pods"`
	MaxPodsSeconds          float64 `json:"max_pods_all_running_seconds"`
	SimulatorRSSMB          float64 `json:"simulator_peak_rss_mb"`
	ServerRSSMB             float64 `json:"server_peak_rss_mb"`
	ServerCPUSecondsOverall float64 `json:"server_cpu_seconds_total"`
}

type bench struct {
	o      options
	dir    string
	port   int
	server *proc
	client kubernetes.Interface
	res    *results
}

func run(ctx context.Context, o options) (*results, error) {
	res := &results{Machine: fmt.Sprintf("%d CPU, %s", runtime.NumCPU(), time.Now().Format("2006-01-02")), Nodes: o.nodes}
	dir, err := os.MkdirTemp("", "sqlkube-cpbench-")
	if err != nil {
		return res, err
	}
	if !o.keep {
		defer os.RemoveAll(dir)
	} else {
		slog.Info("work directory", "dir", dir)
	}
	b := &bench{o: o, dir: dir, res: res}
	if b.port, err = freePort(); err != nil {
		return res, err
	}
	var procs []*proc
	defer func() {
		for _, p := range procs {
			p.stop()
		}
		if b.server != nil {
			b.server.stop()
		}
	}()

	// 1. The server without a scheduler, and the simulated nodes.
	if err := b.startServer(ctx, "*,-scheduler"); err != nil {
		return res, err
	}
	t0 := time.Now()
	sim, err := start(filepath.Join(dir, "sim.log"), o.sqlkube, "node", "--kubeconfig", b.kubeconfig(), "--simulate", strconv.Itoa(o.nodes), "--name", "sim")
	if err != nil {
		return res, err
	}
	procs = append(procs, sim)
	if err := b.waitFor(ctx, "nodes Ready", 5*time.Minute, func() (bool, error) { return b.readyNodes(ctx, "sim-", o.nodes) }); err != nil {
		return res, err
	}
	res.NodesReadySeconds = round(time.Since(t0).Seconds())
	slog.Info("nodes ready", "nodes", o.nodes, "seconds", res.NodesReadySeconds)

	// 2. Idle: heartbeats only.
	time.Sleep(10 * time.Second)
	s0, m0 := cpuSeconds(b.server.pid()), cpuSeconds(sim.pid())
	time.Sleep(o.idleWindow)
	s1, m1 := cpuSeconds(b.server.pid()), cpuSeconds(sim.pid())
	res.IdleServerCPUPercent = round(100 * (s1 - s0) / o.idleWindow.Seconds())
	res.IdleSimCPUPercent = round(100 * (m1 - m0) / o.idleWindow.Seconds())
	slog.Info("idle", "server_cpu_percent", res.IdleServerCPUPercent, "sim_cpu_percent", res.IdleSimCPUPercent)

	// 3. Scheduler throughput: pending pods, then a server with the scheduler.
	if _, err := b.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench"}}, metav1.CreateOptions{}); err != nil {
		return res, fmt.Errorf("create namespace bench: %w", err)
	}
	if err := b.createPods(ctx, o.pending); err != nil {
		return res, err
	}
	res.PendingPods = o.pending
	b.server.stop()
	if err := b.startServer(ctx, "*"); err != nil {
		return res, err
	}
	started := time.Now()
	first, last, err := b.waitBound(ctx, o.pending)
	if err != nil {
		return res, err
	}
	res.ScheduleSeconds = round(last.Sub(first).Seconds())
	res.ScheduleFromStart = round(last.Sub(started).Seconds())
	if d := last.Sub(first).Seconds(); d > 0 {
		res.SchedulePodsPerSecond = round(float64(o.pending) / d)
	}
	slog.Info("scheduled", "pods", o.pending, "pods_per_second", res.SchedulePodsPerSecond, "from_start_seconds", res.ScheduleFromStart)
	if err := b.client.CoreV1().Pods("bench").DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		return res, fmt.Errorf("delete pending pods: %w", err)
	}
	if err := b.waitFor(ctx, "pending pods gone", 5*time.Minute, func() (bool, error) { return b.podCount(ctx, 0) }); err != nil {
		return res, err
	}

	// 4. A node pool dies: its pods must run elsewhere.
	if err := b.failover(ctx, &procs); err != nil {
		return res, err
	}

	// 5. Scale-up: a Deployment of o.replicas, apply to all available.
	res.Replicas = o.replicas
	t0 = time.Now()
	if err := b.deployment(ctx, "web", int32(o.replicas)); err != nil {
		return res, err
	}
	if err := b.waitAvailable(ctx, "web", int32(o.replicas), 10*time.Minute); err != nil {
		return res, err
	}
	res.ScaleUpSeconds = round(time.Since(t0).Seconds())
	slog.Info("scale-up", "replicas", o.replicas, "seconds", res.ScaleUpSeconds)

	// 6. The simulator carrying o.maxPods.
	if o.maxPods > o.replicas {
		res.MaxPods = o.maxPods
		t0 = time.Now()
		if err := b.scale(ctx, "web", int32(o.maxPods)); err != nil {
			return res, err
		}
		if err := b.waitAvailable(ctx, "web", int32(o.maxPods), 20*time.Minute); err != nil {
			return res, err
		}
		res.MaxPodsSeconds = round(time.Since(t0).Seconds())
	}
	res.SimulatorRSSMB = round(peakRSSMB(sim.pid()))
	res.ServerRSSMB = round(peakRSSMB(b.server.pid()))
	res.ServerCPUSecondsOverall = round(cpuSeconds(b.server.pid()))
	return res, nil
}

func (b *bench) kubeconfig() string { return filepath.Join(b.dir, "server", "admin.kubeconfig") }

// startServer starts (or restarts, on the same data) the server with the
// given --controllers and waits until it is ready.
func (b *bench) startServer(ctx context.Context, controllers string) error {
	p, err := start(filepath.Join(b.dir, "server.log"), b.o.sqlkube, "server", "--data-dir", filepath.Join(b.dir, "server"),
		"--secure-port", strconv.Itoa(b.port), "--controllers", controllers,
		"--node-monitor-grace-period", b.o.grace.String(),
		"--default-not-ready-toleration-seconds", strconv.Itoa(b.o.toleration),
		"--default-unreachable-toleration-seconds", strconv.Itoa(b.o.toleration))
	if err != nil {
		return err
	}
	b.server = p
	return b.waitFor(ctx, "server ready", time.Minute, func() (bool, error) {
		if b.client == nil {
			cfg, err := clientcmd.BuildConfigFromFlags("", b.kubeconfig())
			if err != nil {
				return false, nil
			}
			cfg.QPS, cfg.Burst = -1, 0
			if b.client, err = kubernetes.NewForConfig(cfg); err != nil {
				return false, err
			}
		}
		body, err := b.client.CoreV1().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil && string(body) == "ok", nil
	})
}

func (b *bench) waitFor(ctx context.Context, what string, timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not within %s", what, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// readyNodes reports whether want nodes named prefix* are Ready.
func (b *bench) readyNodes(ctx context.Context, prefix string, want int) (bool, error) {
	nodes, err := b.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return false, nil
	}
	n := 0
	for _, node := range nodes.Items {
		if !strings.HasPrefix(node.Name, prefix) {
			continue
		}
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				n++
			}
		}
	}
	return n >= want, nil
}

func (b *bench) podCount(ctx context.Context, want int) (bool, error) {
	l, err := b.client.CoreV1().Pods("bench").List(ctx, metav1.ListOptions{})
	if err != nil {
		return false, nil
	}
	return len(l.Items) == want, nil
}

func podTemplate(labels map[string]string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "c", Image: "registry.local/bench:1",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi"),
			}},
		}}},
	}
}

// createPods creates n bare pods in bench with 32 workers.
func (b *bench) createPods(ctx context.Context, n int) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				t := podTemplate(map[string]string{"app": "pending"})
				pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pending-%d", i), Labels: t.Labels}, Spec: t.Spec}
				if _, err := b.client.CoreV1().Pods("bench").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
					errs <- fmt.Errorf("create pod %s: %w", pod.Name, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// waitBound watches the bench pods until n of them are bound and returns
// the times of the first and the last binding seen.
func (b *bench) waitBound(ctx context.Context, n int) (first, last time.Time, err error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	l, err := b.client.CoreV1().Pods("bench").List(ctx, metav1.ListOptions{})
	if err != nil {
		return first, last, fmt.Errorf("list pods: %w", err)
	}
	bound := map[types.UID]bool{}
	for _, p := range l.Items {
		if p.Spec.NodeName != "" {
			bound[p.UID] = true
		}
	}
	if len(bound) > 0 {
		// Bound before the watch began: the rate is a lower bound.
		first = time.Now()
		last = first
	}
	w, err := b.client.CoreV1().Pods("bench").Watch(ctx, metav1.ListOptions{ResourceVersion: l.ResourceVersion})
	if err != nil {
		return first, last, fmt.Errorf("watch pods: %w", err)
	}
	defer w.Stop()
	for len(bound) < n {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return first, last, errors.New("watch closed")
			}
			p, isPod := ev.Object.(*corev1.Pod)
			if ev.Type != watch.Modified || !isPod || p.Spec.NodeName == "" || bound[p.UID] {
				continue
			}
			bound[p.UID] = true
			if first.IsZero() {
				first = time.Now()
			}
			last = time.Now()
		case <-ctx.Done():
			return first, last, fmt.Errorf("%d of %d pods bound: %w", len(bound), n, ctx.Err())
		}
	}
	return first, last, nil
}

func (b *bench) deployment(ctx context.Context, name string, replicas int32) error {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "bench"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: podTemplate(map[string]string{"app": name}),
		},
	}
	if name == "failover" {
		// Prefer the pool that is about to die.
		d.Spec.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{
				Weight:     100,
				Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "bench/pool", Operator: corev1.NodeSelectorOpIn, Values: []string{"victim"}}}},
			}},
		}}
	}
	if _, err := b.client.AppsV1().Deployments("bench").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create deployment %s: %w", name, err)
	}
	return nil
}

func (b *bench) scale(ctx context.Context, name string, replicas int32) error {
	patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, replicas)
	if _, err := b.client.AppsV1().Deployments("bench").Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("scale %s to %d: %w", name, replicas, err)
	}
	return nil
}

func (b *bench) waitAvailable(ctx context.Context, name string, replicas int32, timeout time.Duration) error {
	return b.waitFor(ctx, "deployment "+name+" available", timeout, func() (bool, error) {
		d, err := b.client.AppsV1().Deployments("bench").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		return d.Status.AvailableReplicas == replicas && d.Status.UpdatedReplicas == replicas && d.Status.Replicas == replicas, nil
	})
}

// failover runs a Deployment that prefers a small pool of nodes, kills
// that pool's simulator and times until every replica is available on
// the other nodes again.
func (b *bench) failover(ctx context.Context, procs *[]*proc) error {
	const poolSize, replicas = 5, 20
	victim, err := start(filepath.Join(b.dir, "victim.log"), b.o.sqlkube, "node", "--kubeconfig", b.kubeconfig(), "--simulate", strconv.Itoa(poolSize), "--name", "victim")
	if err != nil {
		return err
	}
	*procs = append(*procs, victim)
	if err := b.waitFor(ctx, "victim nodes Ready", time.Minute, func() (bool, error) { return b.readyNodes(ctx, "victim-", poolSize) }); err != nil {
		return err
	}
	for i := range poolSize {
		patch := []byte(`{"metadata":{"labels":{"bench/pool":"victim"}}}`)
		if _, err := b.client.CoreV1().Nodes().Patch(ctx, fmt.Sprintf("victim-%d", i), types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("label victim node: %w", err)
		}
	}
	if err := b.deployment(ctx, "failover", replicas); err != nil {
		return err
	}
	if err := b.waitAvailable(ctx, "failover", replicas, 2*time.Minute); err != nil {
		return err
	}
	onVictims := func() (int, int, error) {
		l, err := b.client.CoreV1().Pods("bench").List(ctx, metav1.ListOptions{LabelSelector: "app=failover"})
		if err != nil {
			return 0, 0, err
		}
		victims, elsewhere := 0, 0
		for _, p := range l.Items {
			if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
				continue
			}
			if strings.HasPrefix(p.Spec.NodeName, "victim-") {
				victims++
			} else {
				elsewhere++
			}
		}
		return victims, elsewhere, nil
	}
	if v, _, err := onVictims(); err != nil || v == 0 {
		return fmt.Errorf("failover: %d pods on the victim pool before the kill (%v); the preference did not work", v, err)
	}
	victim.kill()
	t0 := time.Now()
	if err := b.waitFor(ctx, "pods running elsewhere", 5*time.Minute, func() (bool, error) {
		v, e, err := onVictims()
		return err == nil && v == 0 && e == replicas, nil
	}); err != nil {
		return err
	}
	took := time.Since(t0).Seconds()
	b.res.FailoverSeconds = round(took)
	b.res.FailoverOverSeconds = round(took - b.o.grace.Seconds() - float64(b.o.toleration))
	slog.Info("failover", "seconds", took)
	return b.client.AppsV1().Deployments("bench").Delete(ctx, "failover", metav1.DeleteOptions{})
}

// proc is a process the benchmark started.
type proc struct{ *testenv.Process }

// start runs bin with args, its output appended to logPath.
func start(logPath, bin string, args ...string) (*proc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own descriptor
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	p, err := testenv.StartProcess(cmd)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", args[0], err)
	}
	return &proc{p}, nil
}

func (p *proc) pid() int { return p.Pid() }

func (p *proc) stop() { p.Stop(syscall.SIGTERM, 15*time.Second) }

func (p *proc) kill() { p.Kill() }

// cpuSeconds is the user+system CPU time of pid so far.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100 // USER_HZ
}

// peakRSSMB is VmHWM of pid in MiB.
func peakRSSMB(pid int) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func round(v float64) float64 { return float64(int64(v*100+0.5)) / 100 }

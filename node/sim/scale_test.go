package sim_test

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/sqlkube/sqlkube/internal/testserver"
	"github.com/sqlkube/sqlkube/node"
	"github.com/sqlkube/sqlkube/node/sim"
)

var (
	scaleNodes = flag.Int("sim.nodes", 1000, "BenchmarkScale: simulated nodes")
	scalePods  = flag.Int("sim.pods", 30000, "BenchmarkScale: pods bound to them")
	scaleIdle  = flag.Duration("sim.idle", 30*time.Second, "BenchmarkScale: how long to measure idle heartbeat CPU")
)

// Environment of the simulator helper process BenchmarkScale starts: the
// test binary run again with these set runs a simulator instead of tests.
const (
	helperKubeconfig = "SQLKUBE_SIM_HELPER_KUBECONFIG"
	helperNodes      = "SQLKUBE_SIM_HELPER_NODES"
)

func TestMain(m *testing.M) {
	if kc := os.Getenv(helperKubeconfig); kc != "" {
		os.Exit(runHelper(kc, os.Getenv(helperNodes)))
	}
	os.Exit(m.Run())
}

// runHelper runs a simulator of count nodes scale-i, as `sqlkube node
// --simulate` does, until SIGTERM.
func runHelper(kubeconfig, count string) int {
	n, err := strconv.Atoi(count)
	if err != nil {
		fmt.Fprintln(os.Stderr, "node count:", err)
		return 2
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	cfg.QPS, cfg.Burst = -1, 0
	s, err := sim.New(sim.Config{Client: kubernetes.NewForConfigOrDie(cfg), Prefix: "scale", Count: n})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := s.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// BenchmarkScale runs -sim.nodes simulated nodes (default 1,000) in a
// separate process against a real API server in this one, creates
// -sim.pods pods (default 30,000) bound to them round-robin, and reports
// the simulator's peak RSS, the time from the first create to all pods
// Running, and the CPU of the API server process (this one) and of the
// simulator while the nodes only heartbeat, over -sim.idle. It runs once
// whatever b.N is:
//
//	go test ./node/sim -run '^$' -bench Scale -benchtime 1x -timeout 30m
func BenchmarkScale(b *testing.B) {
	srv := testserver.Start(b)
	client := srv.Client
	ctx := context.Background()

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperKubeconfig+"="+srv.Kubeconfig, fmt.Sprintf("%s=%d", helperNodes, *scaleNodes))
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()

	waitFor(b, 5*time.Minute, "nodes Ready", func() (bool, error) {
		l, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{ResourceVersion: "0"})
		if err != nil {
			return false, err
		}
		ready := 0
		for i := range l.Items {
			if node.IsReady(&l.Items[i]) {
				ready++
			}
		}
		return ready == *scaleNodes, nil
	})
	nodesReady := time.Since(start)

	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "scale"}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	// Count Running pods from a watch: listing 30,000 pods every second
	// would cost the server more than the simulator does.
	phases := watchPhases(b, client)
	b.ResetTimer()
	start = time.Now()
	var created atomic.Int64
	createErr := make(chan error, 1)
	go func() { createErr <- createPods(ctx, client, *scalePods, *scaleNodes, &created) }()
	var createdIn time.Duration
	waitFor(b, 20*time.Minute, "all pods Running", func() (bool, error) {
		if createdIn == 0 {
			select {
			case err := <-createErr:
				if err != nil {
					return false, err
				}
				createdIn = time.Since(start)
			default:
				return false, nil
			}
		}
		return phases.running() == *scalePods, nil
	})
	running := time.Since(start)
	b.StopTimer()
	b.ReportMetric(nodesReady.Seconds(), "s-to-nodes-ready")
	b.ReportMetric(createdIn.Seconds(), "s-to-create")
	b.ReportMetric(running.Seconds(), "s-to-all-running")
	rss, hwm := procMemory(b, cmd.Process.Pid)
	b.ReportMetric(float64(hwm)/1024, "sim-peak-RSS-MB")
	b.ReportMetric(float64(rss)/1024, "sim-RSS-MB")

	// Idle: only heartbeats.
	serverCPU, simCPU := procCPU(b, os.Getpid()), procCPU(b, cmd.Process.Pid)
	time.Sleep(*scaleIdle)
	serverIdle := (procCPU(b, os.Getpid()) - serverCPU).Seconds() / scaleIdle.Seconds() * 100
	simIdle := (procCPU(b, cmd.Process.Pid) - simCPU).Seconds() / scaleIdle.Seconds() * 100
	b.ReportMetric(serverIdle, "server-idle-CPU-%")
	b.ReportMetric(simIdle, "sim-idle-CPU-%")
	_, hwm = procMemory(b, cmd.Process.Pid)
	b.Logf("%d nodes, %d pods: created in %s, all Running after %s; simulator peak RSS %d MiB; idle CPU: server %.1f%%, simulator %.1f%% of one core",
		*scaleNodes, *scalePods, createdIn.Round(time.Millisecond), running.Round(time.Millisecond), hwm/1024, serverIdle, simIdle)
}

// podPhases counts the Running pods of namespace scale from a watch.
type podPhases struct {
	mu       sync.Mutex
	phase    map[string]corev1.PodPhase
	nrunning int
}

func (p *podPhases) running() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.nrunning
}

func (p *podPhases) set(name string, phase corev1.PodPhase) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.phase[name] == corev1.PodRunning {
		p.nrunning--
	}
	if phase == "" {
		delete(p.phase, name)
	} else {
		p.phase[name] = phase
	}
	if phase == corev1.PodRunning {
		p.nrunning++
	}
}

// watchPhases follows the phases of the pods of namespace scale until the
// benchmark ends.
func watchPhases(b *testing.B, client kubernetes.Interface) *podPhases {
	p := &podPhases{phase: map[string]corev1.PodPhase{}}
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace("scale"),
		informers.WithTransform(func(obj any) (any, error) {
			if pod, ok := obj.(*corev1.Pod); ok {
				return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, ResourceVersion: pod.ResourceVersion},
					Status: corev1.PodStatus{Phase: pod.Status.Phase}}, nil
			}
			return obj, nil
		}))
	inf := factory.Core().V1().Pods().Informer()
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { pod := obj.(*corev1.Pod); p.set(pod.Name, pod.Status.Phase) },
		UpdateFunc: func(_, obj any) { pod := obj.(*corev1.Pod); p.set(pod.Name, pod.Status.Phase) },
		DeleteFunc: func(obj any) {
			if pod, ok := obj.(*corev1.Pod); ok {
				p.set(pod.Name, "")
			}
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	stop := make(chan struct{})
	b.Cleanup(func() { close(stop); factory.Shutdown() })
	factory.Start(stop)
	factory.WaitForCacheSync(stop)
	return p
}

// createPods creates count pods in namespace scale, bound round-robin to
// nodes scale-0 … scale-(nodes-1), 32 at a time.
func createPods(ctx context.Context, client kubernetes.Interface, count, nodes int, created *atomic.Int64) error {
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	next := atomic.Int64{}
	for range 32 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= count {
					return
				}
				pod := &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p-%d", i), Labels: map[string]string{"app": "scale"}},
					Spec: corev1.PodSpec{
						NodeName:   fmt.Sprintf("scale-%d", i%nodes),
						Containers: []corev1.Container{{Name: "c", Image: "registry.local/scale:1"}},
					},
				}
				if _, err := client.CoreV1().Pods("scale").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
					errs <- fmt.Errorf("create pod %d: %w", i, err)
					return
				}
				created.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func waitFor(b *testing.B, timeout time.Duration, what string, cond func() (bool, error)) {
	b.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			b.Fatalf("%s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s: not after %s", what, timeout)
		}
		time.Sleep(time.Second)
	}
}

// procMemory returns VmRSS and VmHWM (peak RSS) of pid, in KiB.
func procMemory(b *testing.B, pid int) (rss, hwm int64) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(fields[1], 10, 64)
		switch fields[0] {
		case "VmRSS:":
			rss = v
		case "VmHWM:":
			hwm = v
		}
	}
	return rss, hwm
}

// procCPU returns the user+system CPU time pid used so far.
func procCPU(b *testing.B, pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name, which is in parentheses.
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ is 100 on Linux
}

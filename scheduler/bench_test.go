package scheduler

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/sqlkube/sqlkube/internal/testserver"
)

// benchPods is how many pending pods the benchmarks schedule, 10,000 by
// default or SCHED_BENCH_PODS.
func benchPods(b *testing.B) int {
	if v := os.Getenv("SCHED_BENCH_PODS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatalf("SCHED_BENCH_PODS: %v", err)
		}
		return n
	}
	return 10000
}

// benchNodes are 1,000 nodes like the simulated ones (4 cpu, 8Gi, 110
// pods), every tenth with a taint.
func benchNodes() []*v1.Node {
	var nodes []*v1.Node
	for i := range 1000 {
		var opts []func(*v1.Node)
		if i%10 == 0 {
			opts = append(opts, withTaint("dedicated", "db", v1.TaintEffectNoSchedule))
		}
		nodes = append(nodes, node(fmt.Sprintf("node-%d", i), "4", "8Gi", 110, opts...))
	}
	return nodes
}

// benchPod is replica i of one of 20 ReplicaSets: 100m cpu, 128Mi.
func benchPod(i int) *v1.Pod {
	return pod(fmt.Sprintf("p-%d", i), "100m", "128Mi", ownedBy(fmt.Sprintf("rs-%d", i%20)))
}

// BenchmarkSchedule measures the scheduling cycle alone, in memory: 10,000
// pending pods through the queue, filters, scores and assume, on 1,000
// nodes. It reports pods/s.
func BenchmarkSchedule(b *testing.B) {
	nodes := benchNodes()
	n := benchPods(b)
	pods := make([]*v1.Pod, n)
	for i := range pods {
		pods[i] = benchPod(i)
	}
	var elapsed, cpu time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		s := testScheduler(1, nodes)
		s.queue = newSchedulingQueue(nil)
		for _, p := range pods {
			s.queue.add(podKey(p), p)
		}
		b.StartTimer()
		start, cpuStart := time.Now(), processCPU(b)
		for range n {
			item, _ := s.queue.pop()
			if _, err := s.place(item.key, item.pod); err != nil {
				b.Fatal(err)
			}
			s.queue.done(item.key)
		}
		elapsed += time.Since(start)
		cpu += processCPU(b) - cpuStart
	}
	b.ReportMetric(float64(n*b.N)/elapsed.Seconds(), "pods/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(n*b.N), "cpu-µs/pod")
}

// BenchmarkScheduleServer measures end to end against a real API server
// on SQLite in this process: 1,000 nodes and 10,000 (SCHED_BENCH_PODS)
// pending pods are created first; then the scheduler starts, and the time
// until every pod is bound through pods/binding gives pods/s. Run it once:
//
//	go test -run '^$' -bench BenchmarkScheduleServer -benchtime=1x ./scheduler/
func BenchmarkScheduleServer(b *testing.B) {
	n := benchPods(b)
	var elapsed, cpu time.Duration
	for range b.N {
		b.StopTimer()
		ts := testserver.Start(b)
		ctx := context.Background()
		client := ts.Client
		nodes := benchNodes()
		parallel(b, len(nodes), func(i int) error {
			_, err := client.CoreV1().Nodes().Create(ctx, nodes[i], metav1.CreateOptions{})
			return err
		})
		parallel(b, n, func(i int) error {
			p := benchPod(i)
			p.Namespace, p.UID = "default", ""
			p.OwnerReferences[0].UID = types.UID(fmt.Sprintf("00000000-0000-4000-8000-0000000000%02d", i%20))
			_, err := client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{})
			return err
		})
		b.StartTimer()
		if f := os.Getenv("SCHED_BENCH_CPUPROFILE"); f != "" {
			stop := profileCPU(b, f)
			defer stop()
		}
		start, cpuStart := time.Now(), processCPU(b)
		schedClient := client
		if os.Getenv("SCHED_BENCH_PROTOBUF") != "" {
			cfg := rest.CopyConfig(ts.Config)
			cfg.ContentType = "application/vnd.kubernetes.protobuf"
			cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
			schedClient = kubernetes.NewForConfigOrDie(cfg)
		}
		s := startScheduler(b, schedClient, func(s *Scheduler) {
			s.scheduledEvents = os.Getenv("SCHED_BENCH_NO_EVENTS") == ""
		})
		for s.bound.Load() < int64(n) {
			if time.Since(start) > 5*time.Minute {
				b.Fatalf("only %d of %d pods bound in 5 minutes", s.bound.Load(), n)
			}
			time.Sleep(10 * time.Millisecond)
		}
		elapsed += time.Since(start)
		cpu += processCPU(b) - cpuStart
	}
	b.ReportMetric(float64(n*b.N)/elapsed.Seconds(), "pods/s")
	// CPU time of the whole process (server, storage, scheduler) per pod:
	// the figure that does not depend on what else the machine runs.
	b.ReportMetric(float64(cpu.Microseconds())/float64(n*b.N), "cpu-µs/pod")
}

// profileCPU writes a CPU profile of what follows to file, until stop.
func profileCPU(b *testing.B, file string) (stop func()) {
	f, err := os.Create(file)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}

// processCPU is the user and system CPU time this process used so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// parallel runs fn(0..n-1) on 16 goroutines and fails b on the first error.
func parallel(b *testing.B, n int, fn func(i int) error) {
	b.Helper()
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	next := make(chan int)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if first != nil {
		b.Fatal(first)
	}
}

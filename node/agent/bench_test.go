package agent_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/sqlkube/sqlkube/internal/testenv"
)

// The node agent's performance targets (issue 14), measured with real
// processes: a private containerd, registry and busybox image, `sqlkube
// server` and `sqlkube node` as separate processes built from this tree,
// and client-go and kubectl as a user drives them. Figures are reported as
// metrics, not asserted. Run them one round each:
//
//	go test -run '^$' -bench Node -benchtime 1x ./node/agent
//
// The sub-benchmarks run in order and share one node: PodStartup30 leaves
// 30 running pods that AgentRSS30, AgentIdleCPU30 and Exec measure, and
// PodDelete30 deletes them. Each one creates what it needs when run alone.
// SQLKUBE_BENCH_BINARY names a sqlkube binary to measure instead of
// building this tree's (to compare two builds in one session);
// SQLKUBE_BENCH_LOGS names a directory to keep the server's and the node's
// logs in.
func BenchmarkNode(b *testing.B) {
	f := startBenchNode(b)
	b.Run("PodStartup1", func(b *testing.B) { // the latency of one pod alone
		var lat []time.Duration
		for range b.N {
			b.StopTimer()
			f.deleteAll(b)
			b.StartTimer()
			lat = append(lat, f.createPods(b, 1)...)
		}
		slices.Sort(lat)
		b.ReportMetric(quantile(lat, 0.50).Seconds(), "p50-ready-s")
		b.ReportMetric(0, "ns/op")
	})
	b.Run("PodStartup30", func(b *testing.B) {
		var lat []time.Duration
		var agentTicks, serverTicks int64
		for range b.N {
			b.StopTimer()
			f.deleteAll(b)
			b.StartTimer()
			a0, s0 := cpuTicks(b, f.agent.Pid()), cpuTicks(b, f.server.Pid())
			lat = append(lat, f.createPods(b, benchPods)...)
			agentTicks += cpuTicks(b, f.agent.Pid()) - a0
			serverTicks += cpuTicks(b, f.server.Pid()) - s0
		}
		// how much of the start-up is the agent's and the API server's work
		b.ReportMetric(float64(agentTicks)/clockTicks/float64(b.N*benchPods)*1000, "agent-cpu-ms/pod")
		b.ReportMetric(float64(serverTicks)/clockTicks/float64(b.N*benchPods)*1000, "server-cpu-ms/pod")
		slices.Sort(lat)
		b.ReportMetric(quantile(lat, 0.50).Seconds(), "p50-ready-s")
		b.ReportMetric(quantile(lat, 0.99).Seconds(), "p99-ready-s")
		b.ReportMetric(lat[len(lat)-1].Seconds(), "max-ready-s")
		b.ReportMetric(0, "ns/op")
	})
	b.Run("AgentRSS30", func(b *testing.B) {
		f.ensurePods(b, benchPods)
		var st map[string]int64
		var err error
		for range b.N {
			if st, err = procStatus(f.agent.Pid()); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(st["VmRSS"])/1024, "rss-MiB")
		b.ReportMetric(float64(st["RssAnon"])/1024, "anon-MiB")
		b.ReportMetric(float64(st["RssFile"])/1024, "file-MiB")
		// the containers' log drivers are processes of their own
		var drivers int64
		pids := f.logDrivers()
		for _, pid := range pids {
			if st, err := procStatus(pid); err == nil {
				drivers += st["RssAnon"]
			}
		}
		b.ReportMetric(float64(len(pids)), "log-drivers")
		b.ReportMetric(float64(drivers)/1024, "log-drivers-anon-MiB")
		b.ReportMetric(0, "ns/op")
	})
	b.Run("AgentIdleCPU30", func(b *testing.B) {
		f.ensurePods(b, benchPods)
		// let the posts and events of the start-up settle
		time.Sleep(idleSettle)
		var pct float64
		for range b.N {
			pct = f.agentCPU(b, idleWindow)
		}
		b.ReportMetric(pct, "cpu-%")
		b.ReportMetric(0, "ns/op")
	})
	b.Run("Exec", func(b *testing.B) {
		f.ensurePods(b, 1)
		pod := f.pods[0].Name
		var lat []time.Duration
		for range b.N {
			for range execRuns {
				start := time.Now()
				if out, err := f.kubectl("exec", "-n", benchNamespace, pod, "--", "true"); err != nil {
					b.Fatalf("kubectl exec %s -- true: %v\n%s", pod, err, out)
				}
				lat = append(lat, time.Since(start))
			}
		}
		slices.Sort(lat)
		b.ReportMetric(float64(quantile(lat, 0.50).Milliseconds()), "p50-exec-ms")
		b.ReportMetric(float64(quantile(lat, 0.99).Milliseconds()), "p99-exec-ms")
		b.ReportMetric(0, "ns/op")
	})
	b.Run("PodDelete30", func(b *testing.B) {
		var took []time.Duration
		leaked := 0
		for range b.N {
			b.StopTimer()
			f.ensurePods(b, benchPods)
			b.StartTimer()
			t, n := f.deleteAll(b)
			took, leaked = append(took, t), leaked+n
		}
		slices.Sort(took)
		b.ReportMetric(quantile(took, 0.5).Seconds(), "released-s")
		b.ReportMetric(float64(leaked)/float64(b.N), "cgroups-left")
		b.ReportMetric(float64(benchGrace), "grace-s")
		b.ReportMetric(0, "ns/op")
	})
}

const (
	benchPods      = 30
	benchNamespace = "bench"
	benchNodeName  = "bench-node"
	benchGrace     = 1 // terminationGracePeriodSeconds of the pods
	execRuns       = 20
	idleSettle     = 5 * time.Second
	idleWindow     = 30 * time.Second
	clockTicks     = 100 // USER_HZ: /proc/PID/stat counts CPU time in these
	startTimeout   = 3 * time.Minute
)

// nodeFixture is a running server and node agent.
type nodeFixture struct {
	dir, kubeconfig, image string
	nodeDir, containerd    string
	agent, server          *testenv.Process
	client                 kubernetes.Interface
	ctrd                   *containerd.Client
	round                  int
	pods                   []*corev1.Pod // the pods the benchmark created
}

// startBenchNode builds sqlkube, starts containerd, a registry holding the
// busybox image, a server and a node, and pulls the image with a first
// pod, so that the benchmarks start with the image present.
func startBenchNode(b *testing.B) *nodeFixture {
	b.Helper()
	if _, err := exec.LookPath("kubectl"); err != nil {
		testenv.Missing(b, "kubectl")
	}
	sock := testenv.Containerd(b)
	registry := testenv.Registry(b)
	f := &nodeFixture{dir: b.TempDir(), containerd: sock}
	f.image = testenv.PushBusybox(b, registry, "busybox:1")
	bin := os.Getenv("SQLKUBE_BENCH_BINARY") // to compare with another build
	if bin == "" {
		bin = filepath.Join(f.dir, "sqlkube")
		build := exec.Command("go", "build", "-o", bin, "github.com/sqlkube/sqlkube/cmd/sqlkube")
		if out, err := build.CombinedOutput(); err != nil {
			b.Fatalf("build sqlkube: %v\n%s", err, out)
		}
	}

	logDir := f.dir
	if d := os.Getenv("SQLKUBE_BENCH_LOGS"); d != "" { // keep the logs there
		logDir = d
	}
	srvDir := filepath.Join(f.dir, "server")
	f.kubeconfig = filepath.Join(srvDir, "admin.kubeconfig")
	f.server = startSqlkube(b, bin, filepath.Join(logDir, "server.log"),
		"server", "--data-dir", srvDir, "--bind-address", "127.0.0.1", "--secure-port", strconv.Itoa(freePort(b)))
	poll(b, time.Minute, "server ready", func() bool {
		out, err := f.kubectl("get", "--raw", "/readyz")
		return err == nil && out == "ok"
	})
	cfg, err := clientcmd.BuildConfigFromFlags("", f.kubeconfig)
	if err != nil {
		b.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 200, 400
	if f.client, err = kubernetes.NewForConfig(cfg); err != nil {
		b.Fatal(err)
	}

	f.nodeDir = filepath.Join(f.dir, "node")
	f.agent = startSqlkube(b, bin, filepath.Join(logDir, "node.log"),
		"node", "--kubeconfig", f.kubeconfig, "--name", benchNodeName, "--containerd-socket", sock,
		"--data-dir", f.nodeDir, "--port", strconv.Itoa(freePort(b)))
	ctx := context.Background()
	poll(b, startTimeout, "node Ready", func() bool {
		n, err := f.client.CoreV1().Nodes().Get(ctx, benchNodeName, metav1.GetOptions{})
		return err == nil && nodeReady(n)
	})
	if _, err := f.client.CoreV1().Namespaces().Create(ctx,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: benchNamespace}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	f.ctrd, err = containerd.New(sock)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.ctrd.Close() })
	f.createPods(b, 1) // pulls the image
	f.deleteAll(b)
	b.Cleanup(func() { f.deleteAll(b) }) // before the node stops
	return f
}

// startSqlkube runs bin with args, its output in logPath, until the
// benchmark ends; the log's tail is printed if it failed.
func startSqlkube(b *testing.B, bin, logPath string, args ...string) *testenv.Process {
	b.Helper()
	logf, err := os.Create(logPath)
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	p, err := testenv.StartProcess(cmd)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		p.Stop(syscall.SIGTERM, 20*time.Second)
		logf.Close()
		if b.Failed() {
			data, _ := os.ReadFile(logPath)
			b.Logf("%s (tail):\n%s", filepath.Base(logPath), data[max(0, len(data)-8000):])
		}
	})
	return p
}

// createPods creates n pods at once and returns, for each, the time from
// its create request to the watch event that shows it Ready.
func (f *nodeFixture) createPods(b *testing.B, n int) []time.Duration {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	list, err := f.client.CoreV1().Pods(benchNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	w, err := f.client.CoreV1().Pods(benchNamespace).Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	f.round++
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("p%d-%d", f.round, i)
	}
	created := make([]time.Time, n)
	var wg sync.WaitGroup
	errs := make([]error, n)
	pods := make([]*corev1.Pod, n)
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			created[i] = time.Now()
			pods[i], errs[i] = f.client.CoreV1().Pods(benchNamespace).Create(ctx, benchPod(name, f.image), metav1.CreateOptions{})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			b.Fatalf("create pod %s: %v", names[i], err)
		}
	}
	f.pods = append(f.pods, pods...)
	ready := map[string]time.Time{}
	for len(ready) < n {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				b.Fatalf("pod watch ended with %d of %d pods Ready", len(ready), n)
			}
			pod, isPod := ev.Object.(*corev1.Pod)
			if !isPod || ev.Type == watch.Deleted || !podReady(pod) {
				continue
			}
			if _, seen := ready[pod.Name]; !seen {
				ready[pod.Name] = time.Now()
			}
		case <-ctx.Done():
			b.Fatalf("only %d of %d pods Ready after %s", len(ready), n, startTimeout)
		}
	}
	lat := make([]time.Duration, 0, n)
	for i, name := range names {
		t, ok := ready[name]
		if !ok {
			b.Fatalf("pod %s not seen Ready", name)
		}
		lat = append(lat, t.Sub(created[i]))
	}
	return lat
}

// benchPod is a pod that sleeps and ends at once on SIGTERM.
func benchPod(name, image string) *corev1.Pod {
	grace := int64(benchGrace)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: benchNamespace},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{
				Name: "c", Image: image,
				Command: []string{"sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"},
			}},
		},
	}
}

// ensurePods makes sure at least n of the benchmark's pods run.
func (f *nodeFixture) ensurePods(b *testing.B, n int) {
	b.Helper()
	if have := len(f.pods); have < n {
		f.createPods(b, n-have)
	}
}

// deleteAll deletes the benchmark's pods at once and returns the time
// until the node holds nothing of them: the pods are gone from the API,
// and containerd, the network namespaces, IP leases, veths and sandbox
// files are all released. It also returns how many cgroup directories of
// the pods are left then.
func (f *nodeFixture) deleteAll(b *testing.B) (time.Duration, int) {
	b.Helper()
	if len(f.pods) == 0 {
		return 0, 0
	}
	ctx := context.Background()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, len(f.pods))
	for i, pod := range f.pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f.client.CoreV1().Pods(benchNamespace).Delete(ctx, pod.Name, metav1.DeleteOptions{})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil && !apierrors.IsNotFound(err) {
			b.Fatalf("delete pod %s: %v", f.pods[i].Name, err)
		}
	}
	var left string
	deadline := time.Now().Add(startTimeout)
	for {
		if left = f.leftovers(ctx); left == "" {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s after deleting the pods: %s", startTimeout, left)
		}
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(start)
	leaked := f.podCgroups()
	f.pods = nil
	return took, leaked
}

// leftovers says what the node still holds of deleted pods, "" if nothing.
func (f *nodeFixture) leftovers(ctx context.Context) string {
	var left []string
	pods, err := f.client.CoreV1().Pods(benchNamespace).List(ctx, metav1.ListOptions{})
	switch {
	case err != nil:
		left = append(left, "pods: "+err.Error())
	case len(pods.Items) > 0:
		left = append(left, fmt.Sprintf("%d pods in the API", len(pods.Items)))
	}
	cs, err := f.ctrd.Containers(namespaces.WithNamespace(ctx, "sqlkube"))
	switch {
	case err != nil:
		left = append(left, "containerd: "+err.Error())
	case len(cs) > 0:
		left = append(left, fmt.Sprintf("%d containerd containers", len(cs)))
	}
	count := func(what, glob string, skip ...string) {
		m, _ := filepath.Glob(glob)
		m = slices.DeleteFunc(m, func(p string) bool { return slices.Contains(skip, filepath.Base(p)) })
		if len(m) > 0 {
			left = append(left, fmt.Sprintf("%d %s", len(m), what))
		}
	}
	count("network namespaces", filepath.Join(f.nodeDir, "netns", "*"))
	count("IP leases", filepath.Join(f.nodeDir, "cni", "ipam", "*", "*"), "lock", "last_reserved_ip.0")
	count("sandbox dirs", filepath.Join(f.nodeDir, "sandboxes", "*"))
	count("veths", "/sys/class/net/veth*")
	return strings.Join(left, ", ")
}

// podCgroups counts the cgroup directories of the benchmark's pods (all
// controllers). Cgroups are the machine's, not the network namespace's:
// other pods' are not counted.
func (f *nodeFixture) podCgroups() int {
	n := 0
	for _, p := range f.pods {
		for _, glob := range []string{"/sys/fs/cgroup/*/sqlkube/pod", "/sys/fs/cgroup/sqlkube/pod"} {
			m, _ := filepath.Glob(glob + string(p.UID))
			n += len(m)
		}
	}
	return n
}

// procStatus reads the memory figures (kB) of /proc/PID/status: VmRSS,
// RssAnon, RssFile.
func procStatus(pid int) (map[string]int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || !strings.HasSuffix(v, " kB") {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(v, " kB")), 10, 64)
		if err == nil {
			out[k] = n
		}
	}
	return out, nil
}

// logDrivers are the pids of the log driver processes the shims started
// for the node's containers.
func (f *nodeFixture) logDrivers() []int {
	var pids []int
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		cmdline, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil {
			continue
		}
		argv0, _, _ := strings.Cut(string(cmdline), "\x00")
		if strings.HasPrefix(argv0, f.nodeDir+"/") && filepath.Base(argv0) == "sqlkube-log-driver" {
			if pid, err := strconv.Atoi(filepath.Base(d)); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// agentCPU is the agent's CPU time over window in percent of one core.
func (f *nodeFixture) agentCPU(b *testing.B, window time.Duration) float64 {
	b.Helper()
	t0, c0 := time.Now(), cpuTicks(b, f.agent.Pid())
	time.Sleep(window)
	t1, c1 := time.Now(), cpuTicks(b, f.agent.Pid())
	return float64(c1-c0) / clockTicks / t1.Sub(t0).Seconds() * 100
}

// cpuTicks is process pid's utime+stime in clock ticks.
func cpuTicks(b *testing.B, pid int) int64 {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// fields after the command (which may hold spaces) in parentheses
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	// fields[0] is state (field 3): utime and stime are fields 14 and 15
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("parse /proc/PID/stat: %q", s)
	}
	return utime + stime
}

func (f *nodeFixture) kubectl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kubectl", append([]string{"--kubeconfig", f.kubeconfig,
		"--cache-dir", filepath.Join(f.dir, "kubectl-cache")}, args...)...)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// quantile of sorted durations, nearest rank.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// poll calls cond until it holds, failing b after timeout.
func poll(b *testing.B, timeout time.Duration, what string, cond func() bool) {
	b.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatalf("%s: not after %s", what, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freePort(b *testing.B) int {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

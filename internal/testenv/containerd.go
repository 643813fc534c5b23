package testenv

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"
)

const (
	containerdStartTimeout = 20 * time.Second
	containerdStopTimeout  = 10 * time.Second
	registryStartTimeout   = 20 * time.Second

	// netnsEnv marks a test binary that already runs in a network
	// namespace of its own (set by IsolateNetwork when it re-executes).
	netnsEnv = "SQLKUBE_NETNS"
)

// busyboxApplets are the commands the test image links to /bin/busybox.
var busyboxApplets = []string{
	"sh", "sleep", "echo", "cat", "ls", "httpd", "hostname", "wget", "nc", "env", "test",
	"touch", "rm", "date", "printf", "true", "false", "id", "mount", "head", "tr", "kill", "dd",
	"tar", "stty", // kubectl cp runs tar; exec -it tests read the tty size
}

// IsolateNetwork is meant for TestMain of packages whose tests run containers
// or create network interfaces. As root, it re-executes the test binary in a
// fresh network namespace holding only a loopback interface (unshare --net),
// so nothing the tests do reaches the host's own network namespace, and exits
// with the child's exit code. In the re-executed binary (environment variable
// SQLKUBE_NETNS=1) it just runs the tests. When not root, it runs the tests in
// place (they skip through Missing), except under CI, where it prints why and
// exits 1. IsolateNetwork does not return.
//
//	func TestMain(m *testing.M) { testenv.IsolateNetwork(m) }
func IsolateNetwork(m *testing.M) {
	if os.Getenv(netnsEnv) != "" {
		os.Exit(m.Run())
	}
	if os.Geteuid() != 0 {
		if underCI() {
			fmt.Fprintln(os.Stderr, "testenv: these tests need root to run containers in a network namespace of their own")
			os.Exit(1)
		}
		os.Exit(m.Run())
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv: unshare (util-linux) is not installed:", err)
		os.Exit(1)
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv: find test binary:", err)
		os.Exit(1)
	}
	args := append([]string{"--net", "--", "sh", "-c", `ip link set lo up && exec "$0" "$@"`, self}, os.Args[1:]...)
	cmd := exec.Command(unshare, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), netnsEnv+"=1")
	p, err := StartProcess(cmd)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testenv: re-execute in a network namespace:", err)
		os.Exit(1)
	}
	<-p.Done()
	if code := p.cmd.ProcessState.ExitCode(); code >= 0 {
		os.Exit(code)
	}
	os.Exit(1)
}

// requireRoot skips (or under CI fails) a test that needs root.
func requireRoot(t testing.TB, what string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if underCI() {
		t.Fatalf("%s needs root", what)
	}
	t.Skipf("%s needs root; skipping", what)
}

// Containerd starts a private containerd daemon for t and returns its socket.
// It keeps root, state, socket and log in a fresh directory under /tmp (short,
// for the unix socket path limit), reads only its own minimal config (no CRI
// plugin), and is stopped on Cleanup: first every task in every namespace is
// killed and deleted, so no shim or container outlives the test, then the
// daemon. Containerd needs root and the containerd and runc binaries; it
// reports them through Missing otherwise.
func Containerd(t testing.TB) (socket string) {
	t.Helper()
	return StartContainerd(t).Socket
}

// ContainerdDaemon is a private containerd a test can stop and start again
// on the same root, state and socket, as when containerd is restarted on a
// node: shims and containers outlive the daemon.
type ContainerdDaemon struct {
	// Socket is containerd's socket.
	Socket string

	bin, dir, configPath string
	proc                 *Process
	logFile              *os.File
}

// StartContainerd starts a private containerd as Containerd does and
// returns it; Stop and Start stop and restart it. On Cleanup it is started
// again if it was stopped, every task is killed and deleted, and it stops.
func StartContainerd(t testing.TB) *ContainerdDaemon {
	t.Helper()
	requireRoot(t, "containerd")
	bin, err := exec.LookPath("containerd")
	if err != nil {
		Missing(t, "containerd")
	}
	if _, err := exec.LookPath("runc"); err != nil {
		Missing(t, "runc")
	}
	dir, err := os.MkdirTemp("/tmp", "ctrd")
	if err != nil {
		t.Fatalf("containerd dir: %v", err)
	}
	d := &ContainerdDaemon{Socket: filepath.Join(dir, "containerd.sock"), bin: bin, dir: dir,
		configPath: filepath.Join(dir, "config.toml")}
	config := fmt.Sprintf("version = 2\nroot = %q\nstate = %q\n"+
		"disabled_plugins = [\"io.containerd.grpc.v1.cri\", \"io.containerd.snapshotter.v1.btrfs\", "+
		"\"io.containerd.snapshotter.v1.zfs\", \"io.containerd.snapshotter.v1.devmapper\", \"io.containerd.snapshotter.v1.aufs\"]\n"+
		"[grpc]\n  address = %q\n",
		filepath.Join(dir, "root"), filepath.Join(dir, "state"), d.Socket)
	if err := os.WriteFile(d.configPath, []byte(config), 0o600); err != nil {
		t.Fatalf("write containerd config: %v", err)
	}
	if d.logFile, err = os.Create(filepath.Join(dir, "containerd.log")); err != nil {
		t.Fatalf("containerd log: %v", err)
	}
	if err := d.Start(); err != nil {
		d.logFile.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if d.proc == nil {
			if err := d.Start(); err != nil {
				t.Logf("start containerd to clean up: %v", err)
			}
		}
		if d.proc != nil {
			if client, err := containerd.New(d.Socket, containerd.WithTimeout(2*time.Second)); err == nil {
				killAllTasks(client)
				client.Close()
			}
			d.Stop()
		}
		d.logFile.Close()
		unmountUnder(dir)
		if err := os.RemoveAll(dir); err != nil {
			t.Logf("remove containerd dir: %v", err)
		}
	})
	return d
}

// Start starts the daemon (again) and waits until it serves.
func (d *ContainerdDaemon) Start() error {
	if d.proc != nil {
		return fmt.Errorf("containerd %s is already running", d.Socket)
	}
	cmd := exec.Command(d.bin, "--config", d.configPath, "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = d.logFile, d.logFile
	proc, err := StartProcess(cmd)
	if err != nil {
		return fmt.Errorf("containerd: %w", err)
	}
	client, err := waitContainerd(d.Socket, proc)
	if err != nil {
		proc.Kill()
		return fmt.Errorf("containerd did not start: %w\n%s", err, tail(filepath.Join(d.dir, "containerd.log")))
	}
	client.Close()
	d.proc = proc
	return nil
}

// Stop stops the daemon with SIGTERM (SIGKILL after a timeout), leaving
// its shims and their containers running.
func (d *ContainerdDaemon) Stop() {
	if d.proc == nil {
		return
	}
	d.proc.Stop(syscall.SIGTERM, containerdStopTimeout)
	d.proc = nil
}

// waitContainerd polls the socket until containerd serves its version API.
func waitContainerd(socket string, proc *Process) (*containerd.Client, error) {
	deadline := time.Now().Add(containerdStartTimeout)
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-proc.Done():
			return nil, fmt.Errorf("containerd exited: %v", proc.Err())
		default:
		}
		if _, err := os.Stat(socket); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			c, err := containerd.New(socket, containerd.WithTimeout(2*time.Second))
			if err == nil {
				_, err = c.Version(ctx)
				if err == nil {
					cancel()
					return c, nil
				}
				c.Close()
			}
			cancel()
			lastErr = err
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil, fmt.Errorf("socket %s not serving after %s: %v", socket, containerdStartTimeout, lastErr)
}

// killAllTasks kills and deletes every task of every namespace, so that
// shims and container processes end before containerd does.
func killAllTasks(client *containerd.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), containerdStopTimeout)
	defer cancel()
	nss, err := client.NamespaceService().List(ctx)
	if err != nil {
		return
	}
	for _, ns := range nss {
		nctx := namespaces.WithNamespace(ctx, ns)
		containers, err := client.Containers(nctx)
		if err != nil {
			continue
		}
		for _, c := range containers {
			task, err := c.Task(nctx, nil)
			if err != nil {
				continue
			}
			_, _ = task.Delete(nctx, containerd.WithProcessKill)
		}
	}
}

// unmountUnder lazily unmounts whatever is still mounted below dir.
func unmountUnder(dir string) {
	data, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return
	}
	lines := strings.Split(string(data), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		fields := strings.Fields(lines[i])
		if len(fields) > 1 && strings.HasPrefix(fields[1], dir+"/") {
			_ = syscall.Unmount(fields[1], syscall.MNT_DETACH)
		}
	}
}

func tail(path string) string {
	data, _ := os.ReadFile(path)
	if len(data) > logTailBytes {
		data = data[len(data)-logTailBytes:]
	}
	return string(data)
}

// Registry starts Debian's docker-registry on 127.0.0.1 with filesystem
// storage in a temporary directory, and returns its host:port. It is stopped
// on Cleanup.
func Registry(t testing.TB) (hostPort string) {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		Missing(t, "docker-registry")
	}
	dir := t.TempDir()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	hostPort = "127.0.0.1:" + strconv.Itoa(port)
	config := fmt.Sprintf("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n",
		filepath.Join(dir, "data"), hostPort)
	configPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "registry.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", configPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	proc, err := StartProcess(cmd)
	if err != nil {
		logFile.Close()
		t.Fatalf("docker-registry: %v", err)
	}
	t.Cleanup(func() {
		proc.Stop(syscall.SIGTERM, containerdStopTimeout)
		logFile.Close()
	})
	deadline := time.Now().Add(registryStartTimeout)
	hc := &http.Client{Timeout: time.Second}
	for {
		resp, err := hc.Get("http://" + hostPort + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return hostPort
			}
		}
		select {
		case <-proc.Done():
			t.Fatalf("docker-registry exited: %v\n%s", proc.Err(), tail(logPath))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker-registry not serving on %s after %s: %v\n%s", hostPort, registryStartTimeout, err, tail(logPath))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// PushBusybox builds the busybox test image (see BusyboxArchive) and pushes
// it with skopeo to registry (host:port, plain HTTP) as nameTag
// ("busybox:1"). It returns the image reference "registry/nameTag".
func PushBusybox(t testing.TB, registry, nameTag string) (ref string) {
	t.Helper()
	skopeo, err := exec.LookPath("skopeo")
	if err != nil {
		Missing(t, "skopeo")
	}
	ref = registry + "/" + nameTag
	archive := BusyboxArchive(t, t.TempDir(), ref)
	out, err := exec.Command(skopeo, "copy", "--quiet", "--dest-tls-verify=false",
		"docker-archive:"+archive, "docker://"+ref).CombinedOutput()
	if err != nil {
		t.Fatalf("skopeo copy %s: %v\n%s", ref, err, out)
	}
	return ref
}

// BusyboxArchive writes dir/busybox.tar, a docker-archive (docker save
// format) of a one-layer image tagged nameTag: /bin/busybox (from Debian's
// busybox-static) with symlinks for common applets, empty /tmp and /www,
// Env PATH=/bin and Cmd ["/bin/sh"]. It returns the archive's path.
func BusyboxArchive(t testing.TB, dir, nameTag string) string {
	t.Helper()
	busybox, err := os.ReadFile("/bin/busybox")
	if err != nil {
		Missing(t, "busybox-static (/bin/busybox)")
	}
	layer, err := busyboxLayer(busybox)
	if err != nil {
		t.Fatal(err)
	}
	layerSum := sha256.Sum256(layer)
	diffID := "sha256:" + hex.EncodeToString(layerSum[:])
	config, err := json.Marshal(map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"config":       map[string]any{"Cmd": []string{"/bin/sh"}, "Env": []string{"PATH=/bin"}},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{diffID}},
	})
	if err != nil {
		t.Fatal(err)
	}
	configSum := sha256.Sum256(config)
	configName := hex.EncodeToString(configSum[:]) + ".json"
	manifest, err := json.Marshal([]map[string]any{{
		"Config": configName, "RepoTags": []string{nameTag}, "Layers": []string{"layer.tar"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		data []byte
	}{{configName, config}, {"layer.tar", layer}, {"manifest.json", manifest}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "busybox.tar")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// busyboxLayer is the uncompressed layer tar of the busybox test image.
func busyboxLayer(busybox []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(0, 0)
	hdrs := []*tar.Header{
		{Name: "bin/", Mode: 0o755, Typeflag: tar.TypeDir, ModTime: mtime},
		{Name: "tmp/", Mode: 0o1777, Typeflag: tar.TypeDir, ModTime: mtime},
		{Name: "www/", Mode: 0o755, Typeflag: tar.TypeDir, ModTime: mtime},
		{Name: "etc/", Mode: 0o755, Typeflag: tar.TypeDir, ModTime: mtime},
	}
	for _, h := range hdrs {
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("busybox layer: %w", err)
		}
	}
	if err := tw.WriteHeader(&tar.Header{Name: "bin/busybox", Mode: 0o755, Size: int64(len(busybox)),
		Typeflag: tar.TypeReg, ModTime: mtime}); err != nil {
		return nil, fmt.Errorf("busybox layer: %w", err)
	}
	if _, err := tw.Write(busybox); err != nil {
		return nil, fmt.Errorf("busybox layer: %w", err)
	}
	for _, applet := range busyboxApplets {
		if err := tw.WriteHeader(&tar.Header{Name: "bin/" + applet, Linkname: "busybox",
			Typeflag: tar.TypeSymlink, Mode: 0o777, ModTime: mtime}); err != nil {
			return nil, fmt.Errorf("busybox layer: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("busybox layer: %w", err)
	}
	return buf.Bytes(), nil
}

package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	goruntime "runtime"
	"sync"

	"github.com/containernetworking/cni/libcni"
	current "github.com/containernetworking/cni/pkg/types/100"
	"golang.org/x/sys/unix"
)

const (
	networkName     = "sqlkube"
	defaultBridge   = "sqlkube0"
	cniVersion      = "1.0.0"
	conflistName    = "10-sqlkube.conflist"
	podInterface    = "eth0"
	loopbackNetwork = "sqlkube-loopback"
)

// ConfigureNetwork writes the CNI configuration of the "sqlkube" pod network
// for podCIDR (bridge sqlkube0 as the pods' gateway with masquerading and
// hairpin mode, host-local IPAM, leases under StateDir/cni/ipam) to
// StateDir/cni/net.d and uses it from now on. Calling it again with the
// same CIDR changes nothing.
func (r *Runtime) ConfigureNetwork(podCIDR string) error {
	prefix, err := netip.ParsePrefix(podCIDR)
	if err != nil {
		return fmt.Errorf("configure pod network %s: %w", podCIDR, err)
	}
	prefix = prefix.Masked()
	gateway := prefix.Addr().Next()
	defaultRoute := "0.0.0.0/0"
	if prefix.Addr().Is6() {
		defaultRoute = "::/0"
	}
	conf := map[string]any{
		"cniVersion": cniVersion,
		"name":       networkName,
		"plugins": []any{map[string]any{
			"type":        "bridge",
			"bridge":      r.cfg.Bridge,
			"isGateway":   true,
			"ipMasq":      true,
			"hairpinMode": true,
			"ipam": map[string]any{
				"type":    "host-local",
				"ranges":  [][]map[string]string{{{"subnet": prefix.String(), "gateway": gateway.String()}}},
				"routes":  []map[string]string{{"dst": defaultRoute}},
				"dataDir": cniIPAMDir(r.cfg),
			},
		}},
	}
	data, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return fmt.Errorf("configure pod network %s: %w", podCIDR, err)
	}
	list, err := libcni.ConfListFromBytes(data)
	if err != nil {
		return fmt.Errorf("configure pod network %s: %w", podCIDR, err)
	}
	path := filepath.Join(cniConfDir(r.cfg), conflistName)
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, err := os.ReadFile(path); err != nil || string(old) != string(data) {
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			return fmt.Errorf("configure pod network %s: %w", podCIDR, err)
		}
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("configure pod network %s: %w", podCIDR, err)
		}
		r.log.Info("configured pod network", "cidr", prefix.String(), "conflist", path)
	}
	r.network, r.netCIDR = list, prefix.String()
	return nil
}

// loadNetwork reads a conflist an earlier run wrote, so that sandboxes can be
// removed before ConfigureNetwork is called again.
func (r *Runtime) loadNetwork() error {
	path := filepath.Join(cniConfDir(r.cfg), conflistName)
	list, err := libcni.ConfListFromFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		r.log.Warn("ignoring unreadable CNI config", "path", path, "error", err)
		return nil
	}
	r.network = list
	return nil
}

func loopbackConfig() (*libcni.NetworkConfigList, error) {
	list, err := libcni.ConfListFromBytes([]byte(fmt.Sprintf(
		`{"cniVersion":%q,"name":%q,"plugins":[{"type":"loopback"}]}`, cniVersion, loopbackNetwork)))
	if err != nil {
		return nil, fmt.Errorf("loopback CNI config: %w", err)
	}
	return list, nil
}

func (r *Runtime) podNetwork() (*libcni.NetworkConfigList, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.network == nil {
		return nil, errors.New("pod network is not configured (no pod CIDR yet)")
	}
	return r.network, nil
}

func runtimeConf(sb Sandbox, ifName string) *libcni.RuntimeConf {
	return &libcni.RuntimeConf{
		ContainerID: sb.UID,
		NetNS:       sb.NetNS,
		IfName:      ifName,
		Args: [][2]string{
			{"IgnoreUnknown", "1"},
			{"K8S_POD_NAMESPACE", sb.Namespace},
			{"K8S_POD_NAME", sb.Name},
			{"K8S_POD_INFRA_CONTAINER_ID", sb.UID},
			{"K8S_POD_UID", sb.UID},
		},
	}
}

// attachNetwork brings lo up and adds the sandbox to the pod network; it
// returns the pod's IP.
func (r *Runtime) attachNetwork(ctx context.Context, sb Sandbox) (string, error) {
	network, err := r.podNetwork()
	if err != nil {
		return "", err
	}
	if _, err := r.cni.AddNetworkList(ctx, r.loopback, runtimeConf(sb, "lo")); err != nil {
		return "", fmt.Errorf("CNI loopback: %w", err)
	}
	res, err := r.cni.AddNetworkList(ctx, network, runtimeConf(sb, podInterface))
	if err != nil {
		return "", fmt.Errorf("CNI add to %s: %w", networkName, err)
	}
	result, err := current.NewResultFromResult(res)
	if err != nil {
		return "", fmt.Errorf("CNI result: %w", err)
	}
	for _, ip := range result.IPs {
		if ip.Address.IP.To4() != nil {
			return ip.Address.IP.String(), nil
		}
	}
	if len(result.IPs) > 0 {
		return result.IPs[0].Address.IP.String(), nil
	}
	return "", errors.New("CNI result holds no IP address")
}

// detachNetwork removes the sandbox from the pod network, releasing its
// lease. A network namespace that is gone already is fine.
func (r *Runtime) detachNetwork(ctx context.Context, sb Sandbox) error {
	network, err := r.podNetwork()
	if err != nil {
		return err
	}
	rc := runtimeConf(sb, podInterface)
	if _, err := os.Stat(sb.NetNS); err != nil {
		rc.NetNS = "" // plugins then only release IPAM and host state
	}
	if err := r.cni.DelNetworkList(ctx, network, rc); err != nil {
		return fmt.Errorf("CNI del from %s: %w", networkName, err)
	}
	return nil
}

// createNetNS creates a network namespace and bind-mounts it at path. The
// namespace is made on a locked OS thread, which then returns to its original
// namespace (or, if that fails, is discarded with its goroutine).
func createNetNS(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o600)
	if err != nil {
		return fmt.Errorf("create netns file %s: %w", path, err)
	}
	f.Close()
	var wg sync.WaitGroup
	var nsErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		goruntime.LockOSThread()
		orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			goruntime.UnlockOSThread()
			nsErr = fmt.Errorf("open current netns: %w", err)
			return
		}
		defer orig.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			goruntime.UnlockOSThread()
			nsErr = fmt.Errorf("unshare netns: %w", err)
			return
		}
		src := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		nsErr = unix.Mount(src, path, "none", unix.MS_BIND, "")
		if nsErr != nil {
			nsErr = fmt.Errorf("bind-mount netns at %s: %w", path, nsErr)
		}
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// the thread stays in the new namespace: keep it locked so it
			// exits with this goroutine instead of serving others.
			return
		}
		goruntime.UnlockOSThread()
	}()
	wg.Wait()
	if nsErr != nil {
		_ = os.Remove(path)
	}
	return nsErr
}

// removeNetNS unmounts and removes the netns file at path; missing is fine.
func removeNetNS(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount netns %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove netns %s: %w", path, err)
	}
	return nil
}

// dialInNetNS dials a TCP address from inside the network namespace at
// netnsPath ("" means the agent's own).
func dialInNetNS(ctx context.Context, netnsPath, addr string) (net.Conn, error) {
	if netnsPath == "" {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
	target, err := os.Open(netnsPath)
	if err != nil {
		return nil, fmt.Errorf("open netns %s: %w", netnsPath, err)
	}
	defer target.Close()
	type result struct {
		conn net.Conn
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		goruntime.LockOSThread()
		orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			goruntime.UnlockOSThread()
			ch <- result{err: fmt.Errorf("open current netns: %w", err)}
			return
		}
		defer orig.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			goruntime.UnlockOSThread()
			ch <- result{err: fmt.Errorf("enter netns %s: %w", netnsPath, err)}
			return
		}
		// The socket belongs to the namespace it was created in, so the
		// connection stays in the pod's namespace after the thread leaves.
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", addr)
		ch <- result{conn, err}
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			return // thread stays locked and dies with the goroutine
		}
		goruntime.UnlockOSThread()
	}()
	res := <-ch
	return res.conn, res.err
}

// PortForward connects conn to port on the sandbox's loopback (127.0.0.1,
// else [::1]) and copies both ways until either side closes. It closes conn.
func (r *Runtime) PortForward(ctx context.Context, sb Sandbox, port int32, conn io.ReadWriteCloser) error {
	defer conn.Close()
	var target net.Conn
	var err error
	for _, host := range []string{"127.0.0.1", "::1"} {
		target, err = dialInNetNS(ctx, sb.NetNS, net.JoinHostPort(host, fmt.Sprint(port)))
		if err == nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("port-forward to port %d of pod %s/%s: %w", port, sb.Namespace, sb.Name, err)
	}
	defer target.Close()
	// Once the client stops sending, the pod's side sees EOF but may still
	// answer; the forward ends when the pod's side closes (or ctx ends).
	go func() {
		_, _ = io.Copy(target, conn)
		if tc, ok := target.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}()
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(conn, target)
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
	return nil
}

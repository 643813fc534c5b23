package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	containerdlog "github.com/containerd/log"
	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/sqlkube/sqlkube/node/agent"
	"github.com/sqlkube/sqlkube/node/join"
	"github.com/sqlkube/sqlkube/node/logs"
	"github.com/sqlkube/sqlkube/node/runtime"
)

// agentOptions are the flags of `sqlkube node` that run the containerd
// agent.
type agentOptions struct {
	servers          []string
	token            string
	containerdSocket string
	cniBridge        string
	dataDir          string
	port             int
	readOnlyPort     int
}

func (o *agentOptions) addFlags(f *pflag.FlagSet) {
	f.StringSliceVar(&o.servers, "server", nil, "API server URLs (https://HOST:PORT, comma-separated) to join with --token, instead of --kubeconfig")
	f.StringVar(&o.token, "token", "", "node join token (the server's DATA-DIR/node-token); with --server, the agent exchanges it for credentials of its own, kept in --data-dir")
	f.StringVar(&o.containerdSocket, "containerd-socket", "/run/containerd/containerd.sock", "containerd's socket")
	f.StringVar(&o.cniBridge, "cni-bridge", "sqlkube0", "the bridge the node's pods hang on (one per agent on a machine)")
	f.StringVar(&o.dataDir, "data-dir", "/var/lib/sqlkube-node", "where the agent keeps pod volumes, logs and network state")
	f.IntVar(&o.port, "port", agent.DefaultPort, "the agent's API port, where the API server reaches it for logs, exec and port-forward (-1: off)")
	f.IntVar(&o.readOnlyPort, "read-only-port", 0, "unauthenticated port serving /healthz, /pods, /metrics and /stats/summary (0: off; the kubelet used 10255)")
}

// run runs the containerd agent as node name until ctx ends.
func (o *agentOptions) run(ctx context.Context, kubeconfig, name, nodeIP string, log *slog.Logger) error {
	if name == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("--name not given and no hostname: %w", err)
		}
		name = h
	}
	dataDir, err := filepath.Abs(o.dataDir)
	if err != nil {
		return fmt.Errorf("--data-dir %q: %w", o.dataDir, err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("--data-dir %q: %w", dataDir, err)
	}
	if nodeIP == "" {
		nodeIP = agent.DetectNodeIP()
	}
	var serving *tls.Certificate
	switch {
	case len(o.servers) > 0 || o.token != "":
		if len(o.servers) == 0 || o.token == "" || kubeconfig != "" {
			return errors.New("joining takes --server and --token, and no --kubeconfig")
		}
		addrs := []string{nodeIP}
		if h, err := os.Hostname(); err == nil && h != name {
			addrs = append(addrs, h)
		}
		path, creds, err := join.Join(ctx, join.Config{Servers: o.servers, Token: o.token, NodeName: name, Addresses: addrs, DataDir: dataDir, Logger: log})
		if err != nil {
			return fmt.Errorf("join the cluster as node %s: %w", name, err)
		}
		kubeconfig, serving = path, &creds.ServingCert
	case kubeconfig == "" && os.Getenv("KUBECONFIG") == "":
		// A node that joined earlier runs on from its own credentials.
		if p := filepath.Join(dataDir, join.KubeconfigFile); fileExists(p) {
			kubeconfig = p
		}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	restCfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
	if err != nil {
		return fmt.Errorf("load kubeconfig %q: %w", kubeconfig, err)
	}
	restCfg.UserAgent = "sqlkube-node/" + Version
	restCfg.QPS, restCfg.Burst = 50, 100
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return fmt.Errorf("API client: %w", err)
	}
	cas, err := clusterCAs(restCfg)
	if err != nil {
		return err
	}
	driver, err := logDriverLink(dataDir)
	if err != nil {
		return err
	}
	// containerd's client logs through a logger of its own (logrus): its
	// retries ("trying next host") are noise next to the agent's errors.
	if err := containerdlog.SetLevel("warn"); err != nil {
		return fmt.Errorf("containerd client log level: %w", err)
	}
	rt, err := runtime.New(ctx, runtime.Config{Address: o.containerdSocket, StateDir: dataDir, Bridge: o.cniBridge, LogDriver: driver, Logger: log})
	if err != nil {
		return fmt.Errorf("containerd at %s: %w", o.containerdSocket, err)
	}
	defer rt.Close()
	a, err := agent.New(agent.Config{
		Client: client, NodeName: name, NodeIP: nodeIP, Runtime: rt, DataDir: dataDir,
		Port: o.port, ReadOnlyPort: o.readOnlyPort, ClientCAs: cas, ServingCert: serving, Version: Version, Logger: log,
	})
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// clusterCAs are the CAs the kubeconfig trusts for the API server: the
// cluster CA, which also signs the API server's client certificate for
// the agent's port.
func clusterCAs(c *rest.Config) (*x509.CertPool, error) {
	data := c.TLSClientConfig.CAData
	if len(data) == 0 && c.TLSClientConfig.CAFile != "" {
		b, err := os.ReadFile(c.TLSClientConfig.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read the cluster CA: %w", err)
		}
		data = b
	}
	pool := x509.NewCertPool()
	if len(data) == 0 || !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("the kubeconfig names no cluster CA: the agent needs it to know the API server when it calls")
	}
	return pool, nil
}

// logDriverLink returns the executable containerd's shims run to write
// container logs: a link named logs.DriverName to this binary, in the
// data dir (the binary acts as the log driver when called by that name).
func logDriverLink(dataDir string) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find the sqlkube executable: %w", err)
	}
	if self, err = filepath.EvalSymlinks(self); err != nil {
		return "", fmt.Errorf("find the sqlkube executable: %w", err)
	}
	dir := filepath.Join(dataDir, "bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("log driver directory: %w", err)
	}
	link := filepath.Join(dir, logs.DriverName)
	if cur, err := os.Readlink(link); err == nil && cur == self {
		return link, nil
	}
	tmp := link + ".new"
	os.Remove(tmp)
	if err := os.Symlink(self, tmp); err != nil {
		return "", fmt.Errorf("log driver link: %w", err)
	}
	if err := os.Rename(tmp, link); err != nil {
		return "", fmt.Errorf("log driver link: %w", err)
	}
	return link, nil
}

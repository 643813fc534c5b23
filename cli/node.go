package cli

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/sqlkube/sqlkube/node/sim"
)

// nodeOptions are the flags of `sqlkube node`.
type nodeOptions struct {
	kubeconfig       string
	simulate         int
	name             string
	cpu              string
	memory           string
	pods             string
	ephemeral        string
	nodeIP           string
	podCIDR          string
	nodeCIDRMaskSize int
	cfg              sim.Config
	agent            agentOptions
}

func newNodeCommand(opts *globalOptions) *cobra.Command {
	o := &nodeOptions{}
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Run a node agent: this machine's containers through containerd, or simulated nodes",
		Long: `Run a node agent against the API server of --kubeconfig.

Without --simulate, it registers this machine as node --name and runs the
pods bound to it with real containers through the containerd of
--containerd-socket, their networks through CNI plugins on the pod range the
API server gives the node. Containers keep running when the agent stops; a
restarted agent adopts them.

With --simulate N it runs N simulated nodes NAME-0 … NAME-(N-1) in this
process: each registers its Node, renews its Lease every --lease-renew-interval
and "runs" the pods bound to it, which become Running and Ready at once
with an IP of the node's pod range (IPs are only written into pod status).
Containers of pods with restartPolicy Never or OnFailure exit 0 after
--job-duration. When the process stops, the Leases stop being renewed and
the nodes go NotReady, like dead machines.`,
		Example: `  sqlkube node --kubeconfig admin.kubeconfig --name node-a --containerd-socket /run/containerd/containerd.sock
  sqlkube node --kubeconfig admin.kubeconfig --simulate 1000 --name sim`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.simulate <= 0 {
				return o.agent.run(cmd.Context(), o.kubeconfig, o.name, o.nodeIP, opts.logger)
			}
			if o.name == "" {
				return errors.New("--name is required: the simulated nodes are named NAME-0 … NAME-(N-1)")
			}
			cfg, err := o.config()
			if err != nil {
				return err
			}
			rules := clientcmd.NewDefaultClientConfigLoadingRules()
			rules.ExplicitPath = o.kubeconfig
			rest, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
			if err != nil {
				return fmt.Errorf("load kubeconfig %q: %w", o.kubeconfig, err)
			}
			// Many nodes write through one client: no client-side limit.
			rest.QPS, rest.Burst = -1, 0
			rest.UserAgent = "sqlkube-node-sim/" + Version
			if cfg.Client, err = kubernetes.NewForConfig(rest); err != nil {
				return fmt.Errorf("API client: %w", err)
			}
			cfg.Logger = opts.logger
			s, err := sim.New(cfg)
			if err != nil {
				return err
			}
			return s.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig of the API server (default: $KUBECONFIG or ~/.kube/config)")
	f.IntVar(&o.simulate, "simulate", 0, "run this many simulated nodes in this process")
	f.StringVar(&o.name, "name", "", "node name; with --simulate, the prefix of the nodes' names")
	f.StringVar(&o.cpu, "cpu", "4", "cpu capacity of each simulated node")
	f.StringVar(&o.memory, "memory", "8Gi", "memory capacity of each simulated node")
	f.StringVar(&o.pods, "pods", "110", "pod capacity of each simulated node")
	f.StringVar(&o.ephemeral, "ephemeral-storage", "100Gi", "ephemeral-storage capacity of each simulated node")
	f.StringVar(&o.nodeIP, "node-ip", "", "the node's InternalIP (default: this machine's first address; for simulated nodes "+sim.DefaultNodeIP+")")
	f.StringVar(&o.podCIDR, "pod-cidr", sim.DefaultPodCIDR.String(), "cluster pod range; each node gets a free range of --node-cidr-mask-size bits of it (an existing Node keeps its own)")
	f.IntVar(&o.nodeCIDRMaskSize, "node-cidr-mask-size", sim.DefaultNodeCIDRMask, "prefix length of each node's pod range")
	f.DurationVar(&o.cfg.JobDuration, "job-duration", sim.DefaultJobDuration, "how long containers of pods with restartPolicy Never or OnFailure run before exiting 0")
	f.DurationVar(&o.cfg.LeaseDuration, "lease-duration", sim.DefaultLeaseDuration, "leaseDurationSeconds of the node Leases")
	f.DurationVar(&o.cfg.RenewInterval, "lease-renew-interval", sim.DefaultRenewInterval, "how often each node renews its Lease")
	f.DurationVar(&o.cfg.StatusInterval, "node-status-report-interval", sim.DefaultStatusInterval, "how often a node re-posts unchanged conditions")
	f.IntVar(&o.cfg.Workers, "workers", sim.DefaultWorkers, "pod status writes in parallel")
	o.agent.addFlags(f)
	return cmd
}

// config turns the flags into a simulator configuration (without client).
func (o *nodeOptions) config() (sim.Config, error) {
	cfg := o.cfg
	cfg.Prefix, cfg.Count, cfg.NodeIP, cfg.Version = o.name, o.simulate, o.nodeIP, Version
	if cfg.NodeIP == "" {
		cfg.NodeIP = sim.DefaultNodeIP
	}
	cfg.NodeCIDRMaskSize = o.nodeCIDRMaskSize
	var err error
	if cfg.PodCIDR, err = netip.ParsePrefix(o.podCIDR); err != nil {
		return cfg, fmt.Errorf("--pod-cidr: %w", err)
	}
	cfg.Capacity = corev1.ResourceList{}
	for _, q := range []struct {
		flag, value string
		name        corev1.ResourceName
	}{
		{"cpu", o.cpu, corev1.ResourceCPU},
		{"memory", o.memory, corev1.ResourceMemory},
		{"pods", o.pods, corev1.ResourcePods},
		{"ephemeral-storage", o.ephemeral, corev1.ResourceEphemeralStorage},
	} {
		v, err := resource.ParseQuantity(q.value)
		if err != nil {
			return cfg, fmt.Errorf("--%s %q: %w", q.flag, q.value, err)
		}
		cfg.Capacity[q.name] = v
	}
	return cfg, nil
}

package cli

import (
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/sqlkube/sqlkube/proxy"
)

// proxyOptions are the flags of `sqlkube proxy`.
type proxyOptions struct {
	kubeconfig    string
	hostname      string
	minSyncPeriod time.Duration
	syncPeriod    time.Duration
	metricsAddr   string
	healthzAddr   string
	clusterCIDR   string
	serviceCIDR   string
}

func newProxyCommand(opts *globalOptions) *cobra.Command {
	o := &proxyOptions{}
	cmd := &cobra.Command{
		Use:   "proxy",
		Short: "Run the service proxy: Services and EndpointSlices to this node's nftables",
		Long: `Run the service proxy of one node against the API server of --kubeconfig.

It watches Services and EndpointSlices and keeps one nftables table,
"ip sqlkube", in line with them: ClusterIPs and NodePorts DNAT to ready
endpoints chosen at random, session affinity, Local traffic policies, and a
refused connection for a Service without ready endpoints. Each sync replaces
the whole table in one transaction; changes are batched by --min-sync-period
and the table is rebuilt every --sync-period, repairing rules someone removed.
The table stays when the proxy stops. Needs root (CAP_NET_ADMIN).`,
		Example: `  sqlkube proxy --kubeconfig admin.kubeconfig --hostname-override node-a`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig of the API server (default: $KUBECONFIG, ~/.kube/config)")
	f.StringVar(&o.hostname, "hostname-override", "", "name of this node (default: the hostname)")
	f.DurationVar(&o.minSyncPeriod, "min-sync-period", proxy.DefaultMinSyncPeriod, "least time between two syncs; changes within it are applied together")
	f.DurationVar(&o.syncPeriod, "sync-period", proxy.DefaultSyncPeriod, "time between full resyncs when nothing changes")
	f.StringVar(&o.metricsAddr, "metrics-bind-address", "127.0.0.1:10249", "address of /metrics (empty: off)")
	f.StringVar(&o.healthzAddr, "healthz-bind-address", "0.0.0.0:10256", "address of /healthz (empty: off)")
	f.StringVar(&o.serviceCIDR, "service-cidr", "10.96.0.0/16", "the range of ClusterIPs (routed to lo when no route covers it, so the node reaches them)")
	f.StringVar(&o.clusterCIDR, "cluster-cidr", "10.244.0.0/16", "the pod network: Service traffic from outside it and pod traffic leaving it are masqueraded (empty: neither)")
	return cmd
}

func (o *proxyOptions) run(cmd *cobra.Command, opts *globalOptions) error {
	name := o.hostname
	if name == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("--hostname-override not given and no hostname: %w", err)
		}
		name = h
	}
	var cidr netip.Prefix
	if o.clusterCIDR != "" {
		p, err := netip.ParsePrefix(o.clusterCIDR)
		if err != nil {
			return fmt.Errorf("--cluster-cidr %q: %w", o.clusterCIDR, err)
		}
		cidr = p.Masked()
	}
	svcCIDR, err := netip.ParsePrefix(o.serviceCIDR)
	if err != nil {
		return fmt.Errorf("--service-cidr %q: %w", o.serviceCIDR, err)
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.kubeconfig
	rest, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
	if err != nil {
		return fmt.Errorf("load kubeconfig %q: %w", o.kubeconfig, err)
	}
	rest.UserAgent = "sqlkube-proxy/" + Version
	client, err := kubernetes.NewForConfig(rest)
	if err != nil {
		return fmt.Errorf("API client: %w", err)
	}
	p, err := proxy.New(proxy.Config{
		Client: client, NodeName: name, ClusterCIDR: cidr, ServiceCIDR: svcCIDR.Masked(),
		MinSyncPeriod: o.minSyncPeriod, SyncPeriod: o.syncPeriod,
		MetricsAddr: o.metricsAddr, HealthzAddr: o.healthzAddr, Logger: opts.logger,
	})
	if err != nil {
		return err
	}
	return p.Run(cmd.Context())
}

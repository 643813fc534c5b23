package manager

import (
	"context"

	"github.com/sqlkube/sqlkube/controllers/clusterdns"
	"github.com/sqlkube/sqlkube/controllers/cronjob"
	"github.com/sqlkube/sqlkube/controllers/daemonset"
	"github.com/sqlkube/sqlkube/controllers/deployment"
	"github.com/sqlkube/sqlkube/controllers/disruption"
	"github.com/sqlkube/sqlkube/controllers/endpoints"
	"github.com/sqlkube/sqlkube/controllers/garbagecollector"
	"github.com/sqlkube/sqlkube/controllers/job"
	"github.com/sqlkube/sqlkube/controllers/namespace"
	"github.com/sqlkube/sqlkube/controllers/nodeipam"
	"github.com/sqlkube/sqlkube/controllers/nodelifecycle"
	"github.com/sqlkube/sqlkube/controllers/reconcile"
	"github.com/sqlkube/sqlkube/controllers/replicaset"
	"github.com/sqlkube/sqlkube/controllers/serviceaccount"
	"github.com/sqlkube/sqlkube/controllers/statefulset"
	"github.com/sqlkube/sqlkube/scheduler"
)

// controller is one entry of the registry: how to build it and run it.
type controller struct {
	name  string
	build func(cfg *reconcile.Config) (func(context.Context), error)
}

// workers returns a build function for a controller with Run(ctx, n).
func workers[C interface{ Run(context.Context, int) }](n int, newC func(*reconcile.Config) C) func(*reconcile.Config) (func(context.Context), error) {
	return func(cfg *reconcile.Config) (func(context.Context), error) {
		c := newC(cfg)
		return func(ctx context.Context) { c.Run(ctx, n) }, nil
	}
}

// registry lists every controller, in start order. Worker counts follow
// kube-controller-manager's defaults.
var registry = []controller{
	{"scheduler", func(cfg *reconcile.Config) (func(context.Context), error) {
		s := scheduler.New(cfg)
		return s.Run, nil
	}},
	{"nodelifecycle", workers(4, nodelifecycle.New)},
	{"nodeipam", func(cfg *reconcile.Config) (func(context.Context), error) {
		c, err := nodeipam.New(cfg)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context) { c.Run(ctx, 1) }, nil
	}},
	{"replicaset", workers(5, replicaset.New)},
	{"deployment", workers(5, deployment.New)},
	{"daemonset", workers(2, daemonset.New)},
	{"statefulset", workers(5, statefulset.New)},
	{"job", workers(5, job.New)},
	{"cronjob", workers(5, cronjob.New)},
	{"disruption", workers(5, disruption.New)},
	{"endpoints", workers(5, endpoints.New)},
	{"clusterdns", workers(1, clusterdns.New)},
	{"serviceaccount", workers(1, serviceaccount.New)},
	{"namespace", workers(5, namespace.New)},
	{"garbagecollector", workers(10, garbagecollector.New)},
}

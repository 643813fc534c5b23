package agent

import (
	"context"
	"io"
	"time"

	"github.com/sqlkube/sqlkube/node/runtime"
)

// Runtime is what the agent needs of a container runtime; package
// node/runtime implements it with containerd and CNI.
type Runtime interface {
	Ping(ctx context.Context) error
	Version(ctx context.Context) (string, error)
	ConfigureNetwork(podCIDR string) error
	ImportImages(ctx context.Context, dir string) error
	GetImage(ctx context.Context, ref string) (runtime.ImageInfo, bool, error)
	PullImage(ctx context.Context, ref string, creds []runtime.Credential) (runtime.ImageInfo, error)
	RunSandbox(ctx context.Context, cfg runtime.SandboxConfig) (runtime.Sandbox, error)
	Sandboxes(ctx context.Context) ([]runtime.Sandbox, error)
	RemoveSandbox(ctx context.Context, uid string) error
	CreateContainer(ctx context.Context, sb runtime.Sandbox, cfg runtime.ContainerConfig) (string, error)
	StartContainer(ctx context.Context, id string) error
	StopContainer(ctx context.Context, id string, grace time.Duration) error
	RemoveContainer(ctx context.Context, id string) error
	ContainerStatus(ctx context.Context, id string) (runtime.ContainerStatus, error)
	Containers(ctx context.Context) ([]runtime.ContainerStatus, error)
	Exits(ctx context.Context) (<-chan string, error)
	Exec(ctx context.Context, id string, cmd []string, s runtime.Streams) (int, error)
	Attach(ctx context.Context, id string, s runtime.Streams) error
	PortForward(ctx context.Context, sb runtime.Sandbox, port int32, conn io.ReadWriteCloser) error
	Stats(ctx context.Context, id string) (runtime.Stats, error)
}

// Labels the agent puts on every container it creates: with them, the
// runtime alone tells which pod and container a running one is.
const (
	labelPodUID       = "io.sqlkube.pod.uid"
	labelPodName      = "io.sqlkube.pod.name"
	labelPodNamespace = "io.sqlkube.pod.namespace"
	labelContainer    = "io.sqlkube.container.name"
	labelAttempt      = "io.sqlkube.container.attempt"
	labelInit         = "io.sqlkube.container.init"
)

// Package runtime runs the containers of a node's pods through containerd
// and connects pods to the node's pod network through CNI. It is the only
// part of sqlkube that talks to containerd.
//
// Everything lives in one containerd namespace of its own (Config.Namespace,
// "sqlkube" by default), and every fact the node agent needs to report status
// is kept in containerd, not in memory: a pod sandbox is a containerd
// container record "sandbox-<uid>" without snapshot or task whose labels hold
// the pod's uid, namespace, name, network namespace path and IP; a pod's
// container is a containerd container whose labels hold its pod, name,
// attempt and log path, and, once it exited, its exit code, finish time and
// reason. When the runtime sees a stopped task it records the exit in the
// container's labels and deletes the task, freeing the shim. A new Runtime
// over the same containerd and StateDir (an agent restart) therefore sees
// the same sandboxes and containers, running ones untouched.
//
// A sandbox owns a network namespace bind-mounted at StateDir/netns/<uid>,
// joined to the "sqlkube" CNI network (bridge sqlkube0, host-local IPAM on
// the node's pod CIDR, leases under StateDir/cni/ipam), and the /etc/hosts,
// /etc/hostname and /etc/resolv.conf files bound into its containers
// (StateDir/sandboxes/<uid>). Containers' stdout and stderr go to the
// Config.LogDriver executable started by containerd's shim, so logging goes
// on while the agent is down.
//
// Attach follows a running container's log from its end until the
// container exits: the output an attach sees is the log driver's, so it
// needs nothing the agent keeps and works on containers started before an
// agent restart. Stdout and stderr arrive merged, as the log holds them.
// Stdin is not attachable yet (Attach refuses it with
// ErrStdinNotAttachable): the shim's binary log driver takes no stdin
// without a terminal. The intended design: for containers with Stdin set,
// the task gets a stdin FIFO under StateDir (containerd's shim reads it
// into the process, or into its console with TTY) while output keeps going
// to the log driver; the log driver holds the FIFO open for writing so the
// container does not see end-of-file between attaches (unless StdinOnce),
// and Attach opens it for writing.
//
// The runtime does not decide anything: restart policy, back-off, probes and
// log paths belong to the node agent. A *Runtime is safe for concurrent use.
//
//	rt, err := runtime.New(ctx, runtime.Config{Address: sock, StateDir: dir, Logger: log})
//	err = rt.ConfigureNetwork("10.244.7.0/24")
//	img, err := rt.PullImage(ctx, "busybox", nil)
//	sb, err := rt.RunSandbox(ctx, runtime.SandboxConfig{UID: uid, Namespace: "ns", Name: "pod", Hostname: "pod"})
//	id, err := rt.CreateContainer(ctx, sb, runtime.ContainerConfig{Name: "c", Image: img, LogPath: p})
//	err = rt.StartContainer(ctx, id)
package runtime

// Package daemonset runs one pod of a DaemonSet on every node the pod may
// run on, like kube-controller-manager's daemonset controller.
//
// A node is eligible when the pod template's nodeSelector and required node
// affinity match it and it has no NoSchedule or NoExecute taint the pod does
// not tolerate. Every daemon pod tolerates what Kubernetes adds to them:
// node.kubernetes.io/not-ready and unreachable (NoExecute, forever) and
// disk-pressure, memory-pressure, pid-pressure and unschedulable
// (NoSchedule), so daemon pods run on cordoned and on failing nodes. Whether
// a node is Ready does not matter. A pod already on a node that gained an
// untolerated NoSchedule taint keeps running; an untolerated NoExecute
// taint removes it.
//
// Pods are created bound: the controller sets spec.nodeName itself instead
// of handing the pod to the scheduler through a matchFields node affinity
// as Kubernetes does. The controller already checks every constraint that
// decides where a daemon pod belongs; binding directly saves a scheduling
// pass and a binding write per pod and keeps daemon pods from queueing
// behind thousands of pending pods. What is lost is the scheduler's
// resource and host-port check: a full node still gets its daemon pod.
//
// Pods carry the controller-revision-hash label, a hash of the pod
// template. A template change is rolled out node by node (RollingUpdate,
// at most maxUnavailable nodes without an available pod, default 1;
// maxSurge is not supported and treated as 0) or waits for pods to be
// deleted (OnDelete). No ControllerRevision objects are written.
//
// Failed pods are deleted and replaced; pods on nodes that are no longer
// eligible are deleted; pods bound to nodes that no longer exist are
// deleted with grace period 0, since no node will finish their deletion.
// Orphan pods matching the selector are adopted and owned pods that stop
// matching it are released.
//
// Controller is safe for concurrent use; a key is never synced by two
// workers at once.
package daemonset

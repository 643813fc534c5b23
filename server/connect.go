package server

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// connectSubresources are the pod subresources a kubelet serves and
// kube-apiserver proxies to it: logs, exec, attach and port forwarding.
// This server does not proxy to node agents yet; it answers them after
// the checks kube-apiserver makes itself, so that a user learns whether
// the pod, its node or its container is what is missing.
var connectSubresources = map[string]string{
	"log":         "logs are",
	"exec":        "exec is",
	"attach":      "attach is",
	"portforward": "port forwarding is",
}

func isConnect(subresource string) bool {
	_, ok := connectSubresources[subresource]
	return ok
}

// connect answers a pods/log, exec, attach or portforward request.
func (s *Server) connect(q *request) error {
	o, err := s.readAt(q, q.ri.name)
	if err != nil {
		return err
	}
	obj, err := s.decodeStored(q.res, o)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return apierrors.NewInternalError(fmt.Errorf("%s is a %T, not a pod", o.Key, obj))
	}
	if q.ri.subresource != "portforward" {
		if err := checkContainer(pod, q.r.URL.Query().Get("container")); err != nil {
			return err
		}
	}
	if pod.Spec.NodeName == "" {
		return apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", pod.Name))
	}
	return apierrors.NewBadRequest(fmt.Sprintf("pod %s: %s served by the node agent of node %s, and this server does not reach node agents yet",
		pod.Name, connectSubresources[q.ri.subresource], pod.Spec.NodeName))
}

// checkContainer refuses a container the pod does not have, in
// kube-apiserver's words. With no container named, a pod of one
// container means that one; kubectl names one itself otherwise.
func checkContainer(pod *corev1.Pod, name string) error {
	var names []string
	for _, c := range pod.Spec.InitContainers {
		names = append(names, c.Name)
	}
	for _, c := range pod.Spec.Containers {
		names = append(names, c.Name)
	}
	for _, c := range pod.Spec.EphemeralContainers {
		names = append(names, c.Name)
	}
	if name == "" {
		if len(pod.Spec.Containers) == 1 {
			return nil
		}
		return apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s, choose one of: [%s]", pod.Name, strings.Join(names, " ")))
	}
	for _, n := range names {
		if n == name {
			return nil
		}
	}
	return apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", name, pod.Name))
}

package server

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// connectSubresources are the pod subresources a kubelet serves and
// kube-apiserver proxies to it: logs, exec, attach and port forwarding.
// The server makes kube-apiserver's checks (the pod, its container, its
// node), then proxies the request to the node's agent.
var connectSubresources = map[string]bool{"log": true, "exec": true, "attach": true, "portforward": true}

func isConnect(subresource string) bool {
	_, ok := connectSubresources[subresource]
	return ok
}

// connect answers a pods/log, exec, attach or portforward request by
// proxying it to the agent of the pod's node.
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
	container := q.r.URL.Query().Get("container")
	if q.ri.subresource != "portforward" {
		if err := checkContainer(pod, container); err != nil {
			return err
		}
		if container == "" {
			container = pod.Spec.Containers[0].Name
		}
	}
	if pod.Spec.NodeName == "" {
		return apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", pod.Name))
	}
	loc, err := agentLocation(pod, q.ri.subresource, container, q.r.URL.Query())
	if err != nil {
		return err
	}
	addr, err := s.agentAddress(q, pod.Spec.NodeName)
	if err != nil {
		return err
	}
	s.proxyToAgent(q, addr, loc)
	return nil
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

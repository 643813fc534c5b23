package server

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sqlkube/sqlkube/storage"
)

// bind serves POST pods/NAME/binding, how schedulers place a pod: it sets
// spec.nodeName once, and the PodScheduled condition.
func (s *Server) bind(q *request) error {
	body, err := s.readBody(q)
	if err != nil {
		return err
	}
	b := &corev1.Binding{}
	gvk := corev1.SchemeGroupVersion.WithKind("Binding")
	dec := s.codec.lax.Decode
	if ct := q.r.Header.Get("Content-Type"); ct == "application/vnd.kubernetes.protobuf" {
		dec = s.codec.proto.Decode
	}
	if _, _, err := dec(body, &gvk, b); err != nil {
		return apierrors.NewBadRequest(fmt.Sprintf("decode Binding: %v", err))
	}
	if b.Target.Kind != "" && b.Target.Kind != "Node" || b.Target.Name == "" {
		return apierrors.NewBadRequest("a binding needs a target node")
	}
	if b.Name != "" && b.Name != q.ri.name {
		return apierrors.NewBadRequest(fmt.Sprintf("the binding's name (%s) does not match the pod (%s)", b.Name, q.ri.name))
	}
	// The pod comes from the store's cache (Store.Cached); if that was
	// behind, the store's revision check fails and it is read again from
	// the store.
	for attempt := 0; ; attempt++ {
		read := s.current
		if attempt > 0 {
			read = s.currentFresh
		}
		cur, obj, err := read(q)
		if err != nil {
			return err
		}
		value, err := s.bindPod(q, obj.(*corev1.Pod), b)
		if err != nil {
			return err
		}
		if q.dryRun() {
			return s.writeCreatedStatus(q)
		}
		_, err = s.store.Update(q.ctx(), q.key(q.ri.name), value, cur.Revision)
		if errors.Is(err, storage.ErrConflict) && attempt == 0 {
			continue
		}
		if err != nil {
			return storageError(err, q.res.GVR().GroupResource(), q.ri.name)
		}
		return s.writeCreatedStatus(q)
	}
}

// bindPod sets pod's node from b and marks it scheduled, and returns it
// encoded for the store.
func (s *Server) bindPod(q *request, pod *corev1.Pod, b *corev1.Binding) ([]byte, error) {
	gr := q.res.GVR().GroupResource()
	if pod.Spec.NodeName != "" {
		return nil, apierrors.NewConflict(gr, pod.Name, fmt.Errorf("pod %s is already assigned to node %q", pod.Name, pod.Spec.NodeName))
	}
	if pod.DeletionTimestamp != nil {
		return nil, apierrors.NewConflict(gr, pod.Name, errors.New("pod is being deleted, cannot be assigned to a host"))
	}
	if b.UID != "" && b.UID != pod.UID {
		return nil, apierrors.NewConflict(gr, pod.Name, errors.New("the binding's UID does not match the pod's"))
	}
	pod.Spec.NodeName = b.Target.Name
	cond := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(time.Now().Truncate(time.Second))}
	found := false
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == corev1.PodScheduled {
			pod.Status.Conditions[i], found = cond, true
		}
	}
	if !found {
		pod.Status.Conditions = append(pod.Status.Conditions, cond)
	}
	value, err := encodeForStorage(q.res, pod)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	return value, nil
}

// writeCreatedStatus answers 201 with a success Status, as kube-apiserver
// answers a binding or an eviction.
func (s *Server) writeCreatedStatus(q *request) error {
	writeJSON(q.w, http.StatusCreated, &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess, Code: http.StatusCreated})
	return nil
}

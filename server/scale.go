package server

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

// The scale subresource (kubectl scale, HorizontalPodAutoscalers) reads
// and writes a workload's replicas as an autoscaling/v1 Scale.

// replicasOf returns the pointer to spec.replicas, the status replicas and
// the selector of a scalable object.
func replicasOf(obj runtime.Object) (spec **int32, status int32, sel *metav1.LabelSelector, ok bool) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return &o.Spec.Replicas, o.Status.Replicas, o.Spec.Selector, true
	case *appsv1.ReplicaSet:
		return &o.Spec.Replicas, o.Status.Replicas, o.Spec.Selector, true
	case *appsv1.StatefulSet:
		return &o.Spec.Replicas, o.Status.Replicas, o.Spec.Selector, true
	}
	return nil, 0, nil, false
}

func scaleOf(obj runtime.Object) (*autoscalingv1.Scale, error) {
	spec, status, sel, ok := replicasOf(obj)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("%T has no scale subresource", obj))
	}
	acc := obj.(metav1.Object)
	sc := &autoscalingv1.Scale{
		TypeMeta: metav1.TypeMeta{Kind: "Scale", APIVersion: "autoscaling/v1"},
		ObjectMeta: metav1.ObjectMeta{
			Name: acc.GetName(), Namespace: acc.GetNamespace(), UID: acc.GetUID(),
			ResourceVersion: acc.GetResourceVersion(), CreationTimestamp: acc.GetCreationTimestamp(),
		},
		Status: autoscalingv1.ScaleStatus{Replicas: status},
	}
	if *spec != nil {
		sc.Spec.Replicas = **spec
	}
	if sel != nil {
		if s, err := metav1.LabelSelectorAsSelector(sel); err == nil {
			sc.Status.Selector = s.String()
		}
	}
	return sc, nil
}

// serveScale answers get, update and patch of the scale subresource.
func (s *Server) serveScale(q *request, verb string) error {
	cur, obj, err := s.currentFresh(q)
	if err != nil {
		return err
	}
	sc, err := scaleOf(obj)
	if err != nil {
		return err
	}
	if verb == "get" {
		writeJSON(q.w, http.StatusOK, sc)
		return nil
	}
	body, err := s.readBody(q)
	if err != nil {
		return err
	}
	ct := q.r.Header.Get("Content-Type")
	if verb != "update" {
		current, _ := json.Marshal(sc)
		pt, _, _ := mime.ParseMediaType(ct)
		if body, err = applyPatch(types.PatchType(pt), current, body, &autoscalingv1.Scale{}); err != nil {
			return apierrors.NewBadRequest(err.Error())
		}
		ct = "application/json"
	}
	want, err := s.codec.decodeScale(ct, body)
	if err != nil {
		return apierrors.NewBadRequest(fmt.Sprintf("decode Scale: %v", err))
	}
	if want.Spec.Replicas < 0 {
		return apierrors.NewBadRequest(fmt.Sprintf("spec.replicas: must be greater than or equal to 0, got %d", want.Spec.Replicas))
	}
	expected := cur.Revision
	if want.ResourceVersion != "" && want.ResourceVersion != sc.ResourceVersion {
		if expected, err = strconv.ParseInt(want.ResourceVersion, 10, 64); err != nil {
			return apierrors.NewBadRequest("invalid resourceVersion " + want.ResourceVersion)
		}
	}
	old := obj.DeepCopyObject() // obj becomes the new version
	spec, _, _, _ := replicasOf(obj)
	n := want.Spec.Replicas
	*spec = &n
	// Write the parent through the ordinary update path, as its own
	// strategy would see it.
	parent := *q
	parent.ri.subresource = ""
	rec := &captureWriter{header: http.Header{}}
	parent.w = rec
	if expected == cur.Revision {
		err = s.replaceOn(&parent, cur, old, obj, expected)
	} else {
		err = s.replace(&parent, obj, expected)
	}
	if err != nil {
		return err
	}
	var stored runtime.Object = q.res.New()
	if err := json.Unmarshal(rec.body, stored); err != nil {
		return apierrors.NewInternalError(err)
	}
	out, err := scaleOf(stored)
	if err != nil {
		return err
	}
	writeJSON(q.w, http.StatusOK, out)
	return nil
}

// captureWriter keeps a response in memory.
type captureWriter struct {
	header http.Header
	code   int
	body   []byte
}

func (c *captureWriter) Header() http.Header  { return c.header }
func (c *captureWriter) WriteHeader(code int) { c.code = code }
func (c *captureWriter) Write(b []byte) (int, error) {
	c.body = append(c.body, b...)
	return len(b), nil
}

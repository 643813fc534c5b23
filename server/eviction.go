package server

import (
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/kubectl/pkg/util/podutils"

	"github.com/sqlkube/sqlkube/server/registry"
	"github.com/sqlkube/sqlkube/storage"
)

// maxDisruptedPods bounds status.disruptedPods, as Kubernetes does: past
// it, the disruption controller is not confirming evictions and more
// would only grow the map.
const maxDisruptedPods = 2000

// evictionAttempts is how often an eviction retries when the budget or
// the pod changed under it.
const evictionAttempts = 5

// evictionBody is policy/v1 and policy/v1beta1 Eviction alike.
type evictionBody struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	DeleteOptions     *metav1.DeleteOptions `json:"deleteOptions,omitempty"`
}

// evict serves POST pods/NAME/eviction, how kubectl drain removes pods:
// a pod guarded by a PodDisruptionBudget is deleted only when the budget
// allows a disruption, which the eviction then uses up (the disruption
// controller counts the pod as disrupted until it is gone). Otherwise the
// answer is 429 and the client retries. Pods that are not running
// (pending, finished, being deleted) are deleted without asking the
// budget, as they disrupt nothing.
func (s *Server) evict(q *request) error {
	body, err := s.readBody(q)
	if err != nil {
		return err
	}
	ev, err := s.codec.decodeEviction(q.r.Header.Get("Content-Type"), body)
	if err != nil {
		return apierrors.NewBadRequest(fmt.Sprintf("decode Eviction: %v", err))
	}
	if ev.Kind != "" && ev.Kind != "Eviction" || ev.APIVersion != "" && ev.APIVersion != "policy/v1" && ev.APIVersion != "policy/v1beta1" {
		return apierrors.NewBadRequest(fmt.Sprintf("the body is a %s %s, not a policy/v1 Eviction", ev.APIVersion, ev.Kind))
	}
	if ev.Name != q.ri.name {
		return apierrors.NewBadRequest("name in URL does not match name in Eviction object")
	}
	opts := ev.DeleteOptions
	if opts == nil {
		opts = &metav1.DeleteOptions{}
	}
	if q.dryRun() {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	userRV := opts.Preconditions != nil && opts.Preconditions.ResourceVersion != nil

	for attempt := 1; ; attempt++ {
		read := s.current
		if attempt > 1 {
			read = s.currentFresh
		}
		cur, obj, err := read(q)
		if err != nil {
			return err
		}
		err = s.evictPod(q, cur, obj.(*corev1.Pod), opts)
		retry := errors.Is(err, errEvictionRetry) || apierrors.IsConflict(err) && !userRV
		switch {
		case retry && attempt < evictionAttempts:
			continue
		case retry:
			return tooManyEvictions("")
		case err != nil:
			return err
		}
		return s.writeCreatedStatus(q)
	}
}

// errEvictionRetry says the budget changed while the eviction used it:
// start again from reading the pod.
var errEvictionRetry = errors.New("the disruption budget changed")

// evictPod is one attempt at evicting pod, stored as cur.
func (s *Server) evictPod(q *request, cur storage.Object, pod *corev1.Pod, opts *metav1.DeleteOptions) error {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed ||
		pod.Status.Phase == corev1.PodPending || pod.DeletionTimestamp != nil {
		return s.deleteEvicted(q, cur, pod, opts, pod.DeletionTimestamp == nil && pod.Status.Phase == corev1.PodPending)
	}
	pdbs, err := s.budgetsOf(q, pod)
	if err != nil {
		return err
	}
	switch {
	case len(pdbs) > 1:
		return &apierrors.StatusError{ErrStatus: metav1.Status{
			Status: metav1.StatusFailure, Code: 500, Reason: metav1.StatusReasonInternalError,
			Message: "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
		}}
	case len(pdbs) == 0:
		return s.deleteEvicted(q, cur, pod, opts, true)
	}
	pdb := pdbs[0].pdb
	if !podutils.IsPodReady(pod) {
		// An unready pod counts for nothing in the budget: deleting
		// it disrupts nothing if the budget is otherwise met (or its
		// policy always allows it). The deletion is conditional on the
		// pod's revision, so that a pod turning ready meanwhile is not
		// deleted on this decision.
		alwaysAllow := pdb.Spec.UnhealthyPodEvictionPolicy != nil && *pdb.Spec.UnhealthyPodEvictionPolicy == policyv1.AlwaysAllow
		if alwaysAllow || pdb.Status.CurrentHealthy >= pdb.Status.DesiredHealthy && pdb.Status.DesiredHealthy > 0 {
			return s.deleteEvicted(q, cur, pod, opts, true)
		}
	}
	if err := s.useDisruption(q, pdbs[0], pod.Name, len(opts.DryRun) > 0); err != nil {
		return err
	}
	return s.deleteEvicted(q, cur, pod, opts, false)
}

// budget is a PodDisruptionBudget as stored: decoded, at its revision,
// with its resource.
type budget struct {
	pdb *policyv1.PodDisruptionBudget
	rev int64
	res *registry.Resource
}

// budgetsOf returns the budgets in pod's namespace whose selector matches
// it (an empty selector matches every pod, a missing one none).
func (s *Server) budgetsOf(q *request, pod *corev1.Pod) ([]budget, error) {
	res, _ := s.reg.Lookup("policy", "v1", "poddisruptionbudgets")
	list, err := s.store.List(q.ctx(), storage.ListOptions{Resource: res.StorageResource(), Namespace: pod.Namespace})
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("list the disruption budgets of namespace %s: %w", pod.Namespace, err))
	}
	var out []budget
	for _, o := range list.Items {
		obj, err := s.decodeStored(res, o)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		pdb := obj.(*policyv1.PodDisruptionBudget)
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		out = append(out, budget{pdb: pdb, rev: o.Revision, res: res})
	}
	return out, nil
}

// useDisruption takes one disruption from b for the pod named podName, or
// refuses with 429 when the budget allows none or the disruption
// controller has not seen its latest spec yet. A dry run decides only.
func (s *Server) useDisruption(q *request, b budget, podName string, dryRun bool) error {
	pdb := b.pdb
	gr := b.res.GVR().GroupResource()
	st := &pdb.Status
	switch {
	case st.ObservedGeneration < pdb.Generation:
		return tooManyEvictions(fmt.Sprintf("The disruption budget %s is still being processed by the server.", pdb.Name))
	case st.DisruptionsAllowed < 0:
		return apierrors.NewForbidden(gr, pdb.Name, errors.New("pdb disruptions allowed is negative"))
	case len(st.DisruptedPods) > maxDisruptedPods:
		return apierrors.NewForbidden(gr, pdb.Name, errors.New("DisruptedPods map too big - too many evictions not confirmed by PDB controller"))
	case st.DisruptionsAllowed == 0:
		return tooManyEvictions(fmt.Sprintf("The disruption budget %s needs %d healthy pods and has %d currently", pdb.Name, st.DesiredHealthy, st.CurrentHealthy))
	}
	st.DisruptionsAllowed--
	if st.DisruptionsAllowed == 0 {
		apimeta.SetStatusCondition(&st.Conditions, metav1.Condition{
			Type: policyv1.DisruptionAllowedCondition, Status: metav1.ConditionFalse,
			Reason: policyv1.InsufficientPodsReason, ObservedGeneration: st.ObservedGeneration,
		})
	}
	if dryRun {
		return nil
	}
	if st.DisruptedPods == nil {
		st.DisruptedPods = map[string]metav1.Time{}
	}
	st.DisruptedPods[podName] = metav1.NewTime(time.Now())
	value, err := encodeForStorage(b.res, pdb)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	key := storage.Key{Resource: b.res.StorageResource(), Namespace: pdb.Namespace, Name: pdb.Name}
	if _, err := s.store.Update(q.ctx(), key, value, b.rev); err != nil {
		if errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrNotFound) {
			return errEvictionRetry
		}
		return storageError(err, gr, pdb.Name)
	}
	return nil
}

// deleteEvicted deletes an evicted pod (stored as cur) with the
// eviction's options, reading the pod again if it changed meanwhile.
// pinned makes the deletion conditional on the revision the eviction
// decided on, unless the client set its own precondition: a pod that
// turned ready since must be evicted again, through its budget. A dry run
// stops here, the decision made.
func (s *Server) deleteEvicted(q *request, cur storage.Object, pod *corev1.Pod, opts *metav1.DeleteOptions, pinned bool) error {
	if len(opts.DryRun) > 0 {
		return nil
	}
	if pinned && (opts.Preconditions == nil || opts.Preconditions.ResourceVersion == nil) {
		opts = opts.DeepCopy()
		if opts.Preconditions == nil {
			opts.Preconditions = &metav1.Preconditions{}
		}
		rv := pod.ResourceVersion
		opts.Preconditions.ResourceVersion = &rv
	}
	_, _, err := s.deleteRetrying(q, pod.Name, cur, pod, opts)
	return err
}

// tooManyEvictions is the 429 an eviction the budget does not allow gets;
// clients (kubectl drain) retry it in their own time. Like
// kube-apiserver's, it carries no Retry-After: client-go would otherwise
// retry it by itself, inside the caller's request.
func tooManyEvictions(cause string) error {
	err := apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 0)
	if cause != "" {
		err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes,
			metav1.StatusCause{Type: policyv1.DisruptionBudgetCause, Message: cause})
	}
	return err
}

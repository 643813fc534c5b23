package deployment

import (
	"context"
	"fmt"
	"math"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// sumReplicas returns the spec.replicas of rss added up.
func sumReplicas(rss []*appsv1.ReplicaSet) int32 {
	var n int32
	for _, rs := range rss {
		n += rsReplicas(rs)
	}
	return n
}

// newRSReplicas returns the size the new ReplicaSet may have now: for
// RollingUpdate as much of spec.replicas as fits under
// spec.replicas+maxSurge counting every ReplicaSet's spec.replicas; for
// Recreate spec.replicas.
func newRSReplicas(d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) int32 {
	if !isRollingUpdate(d) {
		return replicas(d)
	}
	cur := rsReplicas(newRS)
	total := sumReplicas(all)
	maxTotal := replicas(d) + maxSurge(d)
	if total >= maxTotal {
		return cur
	}
	return cur + max(0, min(maxTotal-total, replicas(d)-cur))
}

// rolloutRolling takes one RollingUpdate step: scale the new ReplicaSet
// up, or old ones down, within the surge and availability bounds.
func (c *Controller) rolloutRolling(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, old, err := c.replicaSetsAndSyncRevision(ctx, d, rsList, true)
	if err != nil {
		return err
	}
	all := withNew(old, newRS)

	scaled, err := c.reconcileNewReplicaSet(ctx, d, all, newRS)
	if err != nil {
		return err
	}
	if scaled {
		return c.syncRolloutStatus(ctx, d, all, newRS)
	}
	scaled, err = c.reconcileOldReplicaSets(ctx, d, old, newRS)
	if err != nil {
		return err
	}
	if scaled {
		return c.syncRolloutStatus(ctx, d, withNew(old, newRS), newRS)
	}
	if complete(d, calculateStatus(d, all, newRS, c.now())) {
		if err := c.cleanup(ctx, d, old); err != nil {
			return err
		}
	}
	return c.syncRolloutStatus(ctx, d, all, newRS)
}

// reconcileNewReplicaSet scales the new ReplicaSet toward spec.replicas
// (down at once when it has more).
func (c *Controller) reconcileNewReplicaSet(ctx context.Context, d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) (bool, error) {
	want := replicas(d)
	switch cur := rsReplicas(newRS); {
	case cur == want:
		return false, nil
	case cur > want:
		scaled, _, err := c.scaleReplicaSet(ctx, d, newRS, want)
		return scaled, err
	}
	scaled, _, err := c.scaleReplicaSet(ctx, d, newRS, newRSReplicas(d, all, newRS))
	return scaled, err
}

// reconcileOldReplicaSets scales old ReplicaSets down as far as
// availability allows: first their unavailable pods, then available ones
// while spec.replicas-maxUnavailable stay available. old is updated in
// place.
func (c *Controller) reconcileOldReplicaSets(ctx context.Context, d *appsv1.Deployment, old []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) (bool, error) {
	if sumReplicas(old) == 0 {
		return false, nil
	}
	all := withNew(old, newRS)
	minAvailable := replicas(d) - maxUnavailable(d)
	var newUnavailable int32
	if newRS != nil {
		newUnavailable = rsReplicas(newRS) - available(newRS)
	}
	maxScaledDown := sumReplicas(all) - minAvailable - newUnavailable
	if maxScaledDown <= 0 {
		return false, nil
	}
	cleaned, err := c.cleanupUnhealthyReplicas(ctx, d, old, maxScaledDown)
	if err != nil {
		return false, err
	}
	scaledDown, err := c.scaleDownOldForRollingUpdate(ctx, d, withNew(old, newRS), old)
	if err != nil {
		return false, err
	}
	return cleaned+scaledDown > 0, nil
}

// available is how many of rs's pods count as available: its status's
// figure, but never more than it is now sized for. A ReplicaSet this
// controller just scaled down still reports the pods it is deleting until
// its controller catches up; counting them would scale down twice and
// break maxUnavailable.
func available(rs *appsv1.ReplicaSet) int32 {
	return min(rs.Status.AvailableReplicas, rsReplicas(rs))
}

// cleanupUnhealthyReplicas scales old ReplicaSets down by their
// unavailable pods, oldest first, at most maxCleanup in all. Removing pods
// that serve nothing costs no availability.
func (c *Controller) cleanupUnhealthyReplicas(ctx context.Context, d *appsv1.Deployment, old []*appsv1.ReplicaSet, maxCleanup int32) (int32, error) {
	order := byCreationIndex(old)
	var total int32
	for _, i := range order {
		rs := old[i]
		if total >= maxCleanup {
			break
		}
		unhealthy := rsReplicas(rs) - available(rs)
		if rsReplicas(rs) == 0 || unhealthy <= 0 {
			continue
		}
		n := min(maxCleanup-total, unhealthy)
		_, updated, err := c.scaleReplicaSet(ctx, d, rs, rsReplicas(rs)-n)
		if err != nil {
			return total, err
		}
		old[i] = updated
		total += n
	}
	return total, nil
}

// scaleDownOldForRollingUpdate scales old ReplicaSets down, oldest first,
// by as many available pods as can go while minAvailable remain.
func (c *Controller) scaleDownOldForRollingUpdate(ctx context.Context, d *appsv1.Deployment, all, old []*appsv1.ReplicaSet) (int32, error) {
	minAvailable := replicas(d) - maxUnavailable(d)
	var avail int32
	for _, rs := range all {
		avail += available(rs)
	}
	if avail <= minAvailable {
		return 0, nil
	}
	budget := avail - minAvailable
	var total int32
	for _, i := range byCreationIndex(old) {
		rs := old[i]
		if total >= budget {
			break
		}
		if rsReplicas(rs) == 0 {
			continue
		}
		n := min(rsReplicas(rs), budget-total)
		_, updated, err := c.scaleReplicaSet(ctx, d, rs, rsReplicas(rs)-n)
		if err != nil {
			return total, err
		}
		old[i] = updated
		total += n
	}
	return total, nil
}

// byCreationIndex returns the indexes of rss, oldest first.
func byCreationIndex(rss []*appsv1.ReplicaSet) []int {
	idx := make([]int, len(rss))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		x, y := rss[idx[a]].CreationTimestamp, rss[idx[b]].CreationTimestamp
		if x.Equal(&y) {
			return rss[idx[a]].Name < rss[idx[b]].Name
		}
		return x.Before(&y)
	})
	return idx
}

// rolloutRecreate scales every old ReplicaSet to zero, waits until their
// pods are gone, then creates or scales up the new one.
func (c *Controller) rolloutRecreate(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, old, err := c.replicaSetsAndSyncRevision(ctx, d, rsList, false)
	if err != nil {
		return err
	}
	scaledDown := false
	for i, rs := range old {
		if rsReplicas(rs) == 0 {
			continue
		}
		scaled, updated, err := c.scaleReplicaSet(ctx, d, rs, 0)
		if err != nil {
			return err
		}
		old[i] = updated
		scaledDown = scaledDown || scaled
	}
	if scaledDown {
		return c.syncRolloutStatus(ctx, d, withNew(old, newRS), newRS)
	}
	running, err := c.oldPodsRunning(d, newRS, old)
	if err != nil {
		return err
	}
	if running {
		return c.syncRolloutStatus(ctx, d, withNew(old, newRS), newRS)
	}
	if newRS == nil {
		if newRS, old, err = c.replicaSetsAndSyncRevision(ctx, d, rsList, true); err != nil {
			return err
		}
	}
	if _, newRS, err = c.scaleReplicaSet(ctx, d, newRS, replicas(d)); err != nil {
		return err
	}
	all := withNew(old, newRS)
	if complete(d, calculateStatus(d, all, newRS, c.now())) {
		if err := c.cleanup(ctx, d, old); err != nil {
			return err
		}
	}
	return c.syncRolloutStatus(ctx, d, all, newRS)
}

// oldPodsRunning reports whether any pod of an old ReplicaSet has not
// finished, terminating ones included.
func (c *Controller) oldPodsRunning(d *appsv1.Deployment, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) (bool, error) {
	uids := map[string]bool{}
	for _, rs := range old {
		if rs.Status.Replicas > 0 {
			return true, nil
		}
		uids[string(rs.UID)] = true
	}
	selector, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return false, err
	}
	pods, err := c.podLister.Pods(d.Namespace).List(selector)
	if err != nil {
		return false, fmt.Errorf("list pods of deployment %s: %w", key(d), err)
	}
	for _, p := range pods {
		ref := metav1.GetControllerOf(p)
		if ref == nil || !uids[string(ref.UID)] || (newRS != nil && ref.UID == newRS.UID) {
			continue
		}
		if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			return true, nil
		}
	}
	return false, nil
}

// scaleReplicaSet sets rs's replicas to size and its replicas annotations
// to d's, writing only when something changed. It returns whether the
// size changed and the ReplicaSet as stored.
func (c *Controller) scaleReplicaSet(ctx context.Context, d *appsv1.Deployment, rs *appsv1.ReplicaSet, size int32) (bool, *appsv1.ReplicaSet, error) {
	if rs == nil {
		return false, nil, nil
	}
	from := rsReplicas(rs)
	resized := from != size
	cp := rs.DeepCopy()
	annotated := setReplicasAnnotations(cp, replicas(d), replicas(d)+maxSurge(d))
	if !resized && !annotated {
		return false, rs, nil
	}
	cp.Spec.Replicas = &size
	updated, err := c.client.AppsV1().ReplicaSets(cp.Namespace).Update(ctx, cp, metav1.UpdateOptions{})
	if err != nil {
		return false, rs, fmt.Errorf("scale replicaset %s of deployment %s to %d: %w", key(rs), key(d), size, err)
	}
	if resized {
		dir := "up"
		if size < from {
			dir = "down"
		}
		c.recorder.Eventf(d, corev1.EventTypeNormal, "ScalingReplicaSet", "Scaled %s replica set %s from %d to %d", dir, rs.Name, from, size)
	}
	return resized, updated, nil
}

// scale resizes the ReplicaSets for a new spec.replicas: the only active
// one (or the newest) takes it all; a saturated new ReplicaSet empties
// the old ones; otherwise, during a rolling update, the difference is
// spread over the active ReplicaSets in proportion to their size.
func (c *Controller) scale(ctx context.Context, d *appsv1.Deployment, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) error {
	if rs := activeOrLatest(newRS, old); rs != nil {
		_, _, err := c.scaleReplicaSet(ctx, d, rs, replicas(d))
		return err
	}
	if saturated(d, newRS) {
		for _, rs := range activeReplicaSets(old) {
			if _, _, err := c.scaleReplicaSet(ctx, d, rs, 0); err != nil {
				return err
			}
		}
		return nil
	}
	if !isRollingUpdate(d) {
		return nil
	}
	active := activeReplicaSets(withNew(old, newRS))
	allowed := int32(0)
	if replicas(d) > 0 {
		allowed = replicas(d) + maxSurge(d)
	}
	toAdd := allowed - sumReplicas(active)
	if toAdd == 0 {
		return nil
	}
	// Bigger ReplicaSets first; on a tie the newer one grows first and the
	// older one shrinks first.
	sort.SliceStable(active, func(i, j int) bool {
		a, b := rsReplicas(active[i]), rsReplicas(active[j])
		if a != b {
			return a > b
		}
		ti, tj := active[i].CreationTimestamp, active[j].CreationTimestamp
		if toAdd > 0 {
			return tj.Before(&ti)
		}
		return ti.Before(&tj)
	})
	sizes := make([]int32, len(active))
	var added int32
	for i, rs := range active {
		p := proportion(d, rs, toAdd, added)
		sizes[i] = rsReplicas(rs) + p
		added += p
	}
	if len(active) > 0 {
		sizes[0] = max(0, sizes[0]+toAdd-added)
	}
	for i, rs := range active {
		if _, _, err := c.scaleReplicaSet(ctx, d, rs, sizes[i]); err != nil {
			return err
		}
	}
	return nil
}

// proportion returns how many of toAdd (negative: remove) rs takes: its
// share by its size against the size it was scaled for (max-replicas),
// within what is left.
func proportion(d *appsv1.Deployment, rs *appsv1.ReplicaSet, toAdd, added int32) int32 {
	if rsReplicas(rs) == 0 || toAdd == 0 || toAdd == added {
		return 0
	}
	var fraction int32
	if replicas(d) == 0 {
		fraction = -rsReplicas(rs)
	} else {
		target := replicas(d) + maxSurge(d)
		annotated, ok := intAnnotation(rs, maxReplicasAnn)
		if !ok || annotated == 0 {
			annotated = d.Status.Replicas
		}
		if annotated == 0 {
			return 0
		}
		size := float64(rsReplicas(rs)*target) / float64(annotated)
		fraction = int32(math.Round(size)) - rsReplicas(rs)
	}
	left := toAdd - added
	if toAdd > 0 {
		return min(fraction, left)
	}
	return max(fraction, left)
}

// activeOrLatest returns the one ReplicaSet that has replicas wanted, or
// with none active the new one or else the newest old one; nil when more
// than one is active.
func activeOrLatest(newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	if newRS == nil && len(old) == 0 {
		return nil
	}
	active := activeReplicaSets(withNew(old, newRS))
	switch len(active) {
	case 0:
		if newRS != nil {
			return newRS
		}
		sorted := byCreation(old)
		return sorted[len(sorted)-1]
	case 1:
		return active[0]
	}
	return nil
}

// saturated reports whether the new ReplicaSet has all of spec.replicas,
// sized for them, all available.
func saturated(d *appsv1.Deployment, rs *appsv1.ReplicaSet) bool {
	if rs == nil {
		return false
	}
	desired, ok := intAnnotation(rs, desiredReplicasAnn)
	return ok && rsReplicas(rs) == replicas(d) && desired == replicas(d) && rs.Status.AvailableReplicas == replicas(d)
}

// cleanup deletes the oldest old ReplicaSets beyond revisionHistoryLimit
// that have no replicas wanted or running and whose status is current.
func (c *Controller) cleanup(ctx context.Context, d *appsv1.Deployment, old []*appsv1.ReplicaSet) error {
	if d.Spec.RevisionHistoryLimit == nil {
		return nil
	}
	var alive []*appsv1.ReplicaSet
	for _, rs := range old {
		if rs.DeletionTimestamp == nil {
			alive = append(alive, rs)
		}
	}
	diff := len(alive) - int(*d.Spec.RevisionHistoryLimit)
	if diff <= 0 {
		return nil
	}
	sort.SliceStable(alive, func(i, j int) bool {
		ri, rj := revision(alive[i]), revision(alive[j])
		if ri != rj {
			return ri < rj
		}
		ti, tj := alive[i].CreationTimestamp, alive[j].CreationTimestamp
		return ti.Before(&tj)
	})
	for _, rs := range alive[:diff] {
		if rs.Status.Replicas != 0 || rsReplicas(rs) != 0 || rs.Generation > rs.Status.ObservedGeneration {
			continue
		}
		c.log.Debug("deleting old replicaset", "deployment", key(d), "replicaset", rs.Name, "revision", revision(rs))
		err := c.client.AppsV1().ReplicaSets(rs.Namespace).Delete(ctx, rs.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &rs.UID}})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete old replicaset %s of deployment %s: %w", key(rs), key(d), err)
		}
	}
	return nil
}

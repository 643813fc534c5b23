package deployment

import (
	"encoding/binary"
	"encoding/json"
	"hash/fnv"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	deploymentutil "k8s.io/kubectl/pkg/util/deployment"
)

const (
	hashLabel          = appsv1.DefaultDeploymentUniqueLabelKey
	revisionAnn        = deploymentutil.RevisionAnnotation
	revisionHistoryAnn = deploymentutil.RevisionHistoryAnnotation
	desiredReplicasAnn = deploymentutil.DesiredReplicasAnnotation
	maxReplicasAnn     = deploymentutil.MaxReplicasAnnotation
	changeCauseAnn     = "kubernetes.io/change-cause"

	// revisionHistoryMaxLen bounds the revision-history annotation; the
	// oldest revisions are dropped first.
	revisionHistoryMaxLen = 2000
)

// hashAlphabet has no vowels (no words in names) and no characters that
// look alike.
const hashAlphabet = "bcdfghjklmnpqrstvwxz2456789"

// templateHash returns the pod-template-hash of t: an FNV-1a hash of its
// JSON form without the pod-template-hash label, and of collisionCount
// when set, written in hashAlphabet. It depends only on the template, so
// the same template always maps to the same ReplicaSet name.
func templateHash(t *corev1.PodTemplateSpec, collisionCount *int32) string {
	c := t.DeepCopy()
	delete(c.Labels, hashLabel)
	b, err := json.Marshal(c)
	if err != nil {
		// A PodTemplateSpec always marshals; keep the signature simple.
		panic(err)
	}
	h := fnv.New32a()
	h.Write(b)
	if collisionCount != nil {
		var n [4]byte
		binary.LittleEndian.PutUint32(n[:], uint32(*collisionCount))
		h.Write(n[:])
	}
	v := h.Sum32()
	out := make([]byte, 0, 8)
	for {
		out = append(out, hashAlphabet[v%uint32(len(hashAlphabet))])
		v /= uint32(len(hashAlphabet))
		if v == 0 {
			break
		}
	}
	return string(out)
}

// equalIgnoreHash reports whether two templates are equal apart from the
// pod-template-hash label.
func equalIgnoreHash(a, b *corev1.PodTemplateSpec) bool {
	a, b = a.DeepCopy(), b.DeepCopy()
	delete(a.Labels, hashLabel)
	delete(b.Labels, hashLabel)
	return apiequality.Semantic.DeepEqual(a, b)
}

// revision returns the revision annotation of rs, 0 when it has none.
func revision(rs *appsv1.ReplicaSet) int64 {
	v, err := strconv.ParseInt(rs.Annotations[revisionAnn], 10, 64)
	if err != nil {
		return 0
	}
	return v
}

// skipCopy lists the Deployment annotations that are not copied to its
// ReplicaSets: they describe the Deployment or are set per ReplicaSet.
var skipCopy = map[string]bool{
	corev1.LastAppliedConfigAnnotation: true,
	revisionAnn:                        true,
	revisionHistoryAnn:                 true,
	desiredReplicasAnn:                 true,
	maxReplicasAnn:                     true,
	appsv1.DeprecatedRollbackTo:        true,
}

// copyAnnotations copies d's annotations (change-cause and the like) to
// rs and reports whether rs changed.
func copyAnnotations(d *appsv1.Deployment, rs *appsv1.ReplicaSet) bool {
	changed := false
	for k, v := range d.Annotations {
		if skipCopy[k] {
			continue
		}
		if cur, ok := rs.Annotations[k]; ok && cur == v {
			continue
		}
		if rs.Annotations == nil {
			rs.Annotations = map[string]string{}
		}
		rs.Annotations[k] = v
		changed = true
	}
	return changed
}

// setReplicasAnnotations records the size rs was scaled for and reports
// whether that changed.
func setReplicasAnnotations(rs *appsv1.ReplicaSet, desired, max int32) bool {
	d, m := strconv.Itoa(int(desired)), strconv.Itoa(int(max))
	if rs.Annotations[desiredReplicasAnn] == d && rs.Annotations[maxReplicasAnn] == m {
		return false
	}
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	rs.Annotations[desiredReplicasAnn] = d
	rs.Annotations[maxReplicasAnn] = m
	return true
}

// intAnnotation returns rs's annotation key as a number.
func intAnnotation(rs *appsv1.ReplicaSet, key string) (int32, bool) {
	v, ok := rs.Annotations[key]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0, false
	}
	return int32(n), true
}

// setNewReplicaSetAnnotations gives the new ReplicaSet d's annotations and
// newRevision when that is higher than its own (appending the revision it
// had to revision-history), and for a ReplicaSet about to be created the
// replicas annotations. It reports whether rs changed.
func setNewReplicaSetAnnotations(d *appsv1.Deployment, rs *appsv1.ReplicaSet, newRevision int64, exists bool) bool {
	changed := copyAnnotations(d, rs)
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	old, hasOld := rs.Annotations[revisionAnn]
	if cur := revision(rs); !hasOld || cur < newRevision {
		rs.Annotations[revisionAnn] = strconv.FormatInt(newRevision, 10)
		changed = true
		if hasOld && old != "" && exists {
			history := old
			if h := rs.Annotations[revisionHistoryAnn]; h != "" {
				history = h + "," + old
			}
			for len(history) > revisionHistoryMaxLen {
				i := 0
				for i < len(history) && history[i] != ',' {
					i++
				}
				if i >= len(history) {
					break
				}
				history = history[i+1:]
			}
			rs.Annotations[revisionHistoryAnn] = history
		}
	}
	if !exists && setReplicasAnnotations(rs, replicas(d), replicas(d)+maxSurge(d)) {
		changed = true
	}
	return changed
}

package volume

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

const (
	// defaultTokenSeconds and minTokenSeconds are the API's default and
	// minimum expirationSeconds of a serviceAccountToken projection.
	defaultTokenSeconds = 3600
	minTokenSeconds     = 600
	// maxTokenAge: a token older than this is refreshed whatever its
	// lifetime, as with the kubelet.
	maxTokenAge = 24 * time.Hour
)

// tokenKey identifies one cached token of a pod.
type tokenKey struct {
	pod            types.UID
	serviceAccount string
	audience       string
	seconds        int64
}

// token is a token and the times that decide its refresh.
type token struct {
	value   string
	issued  time.Time
	expires time.Time
}

// due reports whether t must be refreshed at now: once 80% of its lifetime
// has passed, or it is older than 24 hours.
func (t *token) due(now time.Time) bool {
	life := t.expires.Sub(t.issued)
	return !now.Before(t.issued.Add(life*8/10)) || !now.Before(t.issued.Add(maxTokenAge))
}

// token returns the pod's token for a serviceAccountToken projection,
// requesting a new one bound to the pod when none is cached or the cached
// one is due. When a refresh fails, a cached token that has not expired is
// still used.
func (m *Manager) token(ctx context.Context, pod *corev1.Pod, src *corev1.ServiceAccountTokenProjection) (string, error) {
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	seconds := int64(defaultTokenSeconds)
	if src.ExpirationSeconds != nil {
		seconds = max(*src.ExpirationSeconds, minTokenSeconds)
	}
	key := tokenKey{pod: pod.UID, serviceAccount: sa, audience: src.Audience, seconds: seconds}
	now := m.cfg.Now()

	m.mu.Lock()
	cached := m.tokens[key]
	m.mu.Unlock()
	if cached != nil && !cached.due(now) {
		return cached.value, nil
	}

	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: &seconds,
		BoundObjectRef: &authenticationv1.BoundObjectReference{
			APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID,
		},
	}}
	if src.Audience != "" {
		req.Spec.Audiences = []string{src.Audience}
	}
	tr, err := m.cfg.Client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err == nil && tr.Status.Token == "" {
		err = fmt.Errorf("empty token in response")
	}
	if err != nil {
		err = fmt.Errorf("request token of service account %s/%s (audiences %s): %w",
			pod.Namespace, sa, strings.Join(req.Spec.Audiences, ","), err)
		if cached != nil && now.Before(cached.expires) {
			m.log.Warn("token refresh failed, using the cached token", "pod", pod.Namespace+"/"+pod.Name,
				"expires", cached.expires, "err", err)
			return cached.value, nil
		}
		return "", err
	}
	life := seconds
	if tr.Spec.ExpirationSeconds != nil {
		life = *tr.Spec.ExpirationSeconds // the server may grant another lifetime
	}
	expires := tr.Status.ExpirationTimestamp.Time
	if expires.IsZero() {
		expires = now.Add(time.Duration(life) * time.Second)
	}
	t := &token{value: tr.Status.Token, issued: expires.Add(-time.Duration(life) * time.Second), expires: expires}
	m.mu.Lock()
	m.tokens[key] = t
	m.mu.Unlock()
	m.log.Debug("service account token issued", "pod", pod.Namespace+"/"+pod.Name, "serviceAccount", sa,
		"audiences", slices.Clone(req.Spec.Audiences), "expires", expires)
	return t.value, nil
}

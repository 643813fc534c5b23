package volume

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// fixture is a Manager over a fake clientset with a settable clock and a
// token reactor that counts requests.
type fixture struct {
	m      *Manager
	client *fake.Clientset
	root   string

	mu       sync.Mutex
	now      time.Time
	requests []*authenticationv1.TokenRequest
}

func newFixture(t *testing.T, objects ...runtime.Object) *fixture {
	t.Helper()
	f := &fixture{client: fake.NewClientset(objects...), root: filepath.Join(t.TempDir(), "pods"),
		now: time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)}
	f.client.PrependReactor("create", "serviceaccounts", func(a k8stesting.Action) (bool, runtime.Object, error) {
		ca := a.(k8stesting.CreateAction)
		if ca.GetSubresource() != "token" {
			return false, nil, nil
		}
		tr := ca.GetObject().(*authenticationv1.TokenRequest).DeepCopy()
		f.mu.Lock()
		defer f.mu.Unlock()
		f.requests = append(f.requests, tr.DeepCopy())
		tr.Status.Token = fmt.Sprintf("token-%d-for-%s", len(f.requests), tr.Spec.BoundObjectRef.Name)
		tr.Status.ExpirationTimestamp = metav1.NewTime(f.now.Add(time.Duration(*tr.Spec.ExpirationSeconds) * time.Second))
		return true, tr, nil
	})
	m, err := New(Config{Client: f.client, Root: f.root, Now: f.clock, Logger: slog.New(slog.DiscardHandler),
		NodeAllocatable: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("2Gi")}})
	if err != nil {
		t.Fatal(err)
	}
	f.m = m
	t.Cleanup(func() {
		// Secret and projected volumes are tmpfs mounts when run as root.
		mounts, _ := mountsUnder(f.root)
		for _, mp := range mounts {
			unmount(mp)
		}
	})
	return f
}

func (f *fixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

func (f *fixture) tokenRequests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

func (f *fixture) dir(pod *corev1.Pod, volume string) string {
	return filepath.Join(f.root, string(pod.UID), "volumes", volume)
}

func ptr[T any](v T) *T { return &v }

func configMap(name string, data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "demo"}, Data: data}
}

func podWith(volumes ...corev1.Volume) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "demo", UID: "0f6a-uid",
			Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"rev": "7"}},
		Spec: corev1.PodSpec{ServiceAccountName: "robot", Volumes: volumes,
			Containers: []corev1.Container{{Name: "app", Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")}}}}},
	}
}

func cmVolume(name, cm string, items []corev1.KeyToPath, mode *int32, optional *bool) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: cm}, Items: items, DefaultMode: mode, Optional: optional}}}
}

// readFile reads a file of a volume through its visible path.
func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// wantFiles checks a volume's visible files: content and permission bits.
func wantFiles(t *testing.T, dir string, want map[string]string, modes map[string]fs.FileMode) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var visible []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "..") {
			visible = append(visible, e.Name())
			if e.Type()&fs.ModeSymlink == 0 {
				t.Errorf("%s is not a symlink into ..data", e.Name())
			}
		}
	}
	tops := map[string]bool{}
	for p := range want {
		tops[strings.Split(p, "/")[0]] = true
	}
	if len(visible) != len(tops) {
		t.Errorf("visible entries %q, want %d", visible, len(tops))
	}
	for p, content := range want {
		if got := readFile(t, filepath.Join(dir, p)); got != content {
			t.Errorf("%s = %q, want %q", p, got, content)
		}
		if mode, ok := modes[p]; ok {
			fi, err := os.Stat(filepath.Join(dir, p))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != mode {
				t.Errorf("%s mode = %v, want %v", p, fi.Mode().Perm(), mode)
			}
		}
	}
}

func TestSetupConfigMapAndSecret(t *testing.T) {
	objects := []runtime.Object{
		configMap("site", map[string]string{"index.html": "<h1>hi</h1>", "app.conf": "port=80"}),
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: "demo"},
			Data: map[string][]byte{"user": []byte("admin"), "pass": []byte("s3cret")}},
	}
	cases := []struct {
		name    string
		volume  corev1.Volume
		want    map[string]string
		modes   map[string]fs.FileMode
		wantErr string
		is      error
	}{
		{
			name:   "all keys default mode",
			volume: cmVolume("cfg", "site", nil, nil, nil),
			want:   map[string]string{"index.html": "<h1>hi</h1>", "app.conf": "port=80"},
			modes:  map[string]fs.FileMode{"index.html": 0o644, "app.conf": 0o644},
		},
		{
			name: "items with paths and modes",
			volume: cmVolume("cfg", "site", []corev1.KeyToPath{
				{Key: "app.conf", Path: "conf/app.conf", Mode: ptr[int32](0o600)},
				{Key: "index.html", Path: "www/index.html"},
			}, ptr[int32](0o440), nil),
			want:  map[string]string{"conf/app.conf": "port=80", "www/index.html": "<h1>hi</h1>"},
			modes: map[string]fs.FileMode{"conf/app.conf": 0o600, "www/index.html": 0o440},
		},
		{
			name:   "optional missing configmap is empty",
			volume: cmVolume("cfg", "absent", nil, nil, ptr(true)),
			want:   map[string]string{},
		},
		{
			name:   "optional missing key is left out",
			volume: cmVolume("cfg", "site", []corev1.KeyToPath{{Key: "x", Path: "x"}, {Key: "app.conf", Path: "a"}}, nil, ptr(true)),
			want:   map[string]string{"a": "port=80"},
		},
		{
			name:    "missing configmap",
			volume:  cmVolume("cfg", "absent", nil, nil, nil),
			wantErr: `set up volume "cfg" of pod demo/web-1: configmap "absent" not found`,
			is:      ErrMissingSource,
		},
		{
			name:    "missing key",
			volume:  cmVolume("cfg", "site", []corev1.KeyToPath{{Key: "x", Path: "x"}}, nil, nil),
			wantErr: `set up volume "cfg" of pod demo/web-1: configmap "site" has no key "x"`,
			is:      ErrMissingSource,
		},
		{
			name: "secret with default mode",
			volume: corev1.Volume{Name: "cfg", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
				SecretName: "creds", DefaultMode: ptr[int32](0o400)}}},
			want:  map[string]string{"user": "admin", "pass": "s3cret"},
			modes: map[string]fs.FileMode{"user": 0o400, "pass": 0o400},
		},
		{
			name: "missing secret",
			volume: corev1.Volume{Name: "cfg", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
				SecretName: "vault"}}},
			wantErr: `set up volume "cfg" of pod demo/web-1: secret "vault" not found`,
			is:      ErrMissingSource,
		},
		{
			name: "persistent volume claim is unsupported",
			volume: corev1.Volume{Name: "cfg", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}},
			wantErr: `set up volume "cfg" of pod demo/web-1: persistentVolumeClaim volumes are not supported`,
			is:      ErrUnsupported,
		},
		{
			name: "nfs is unsupported",
			volume: corev1.Volume{Name: "cfg", VolumeSource: corev1.VolumeSource{
				NFS: &corev1.NFSVolumeSource{Server: "nas", Path: "/x"}}},
			wantErr: `set up volume "cfg" of pod demo/web-1: nfs volumes are not supported`,
			is:      ErrUnsupported,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, objects...)
			pod := podWith(tc.volume)
			err := f.m.Setup(context.Background(), pod)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("Setup error = %v, want %q", err, tc.wantErr)
				}
				if !errors.Is(err, tc.is) {
					t.Errorf("error does not wrap %v", tc.is)
				}
				return
			}
			if err != nil {
				t.Fatalf("Setup: %v", err)
			}
			wantFiles(t, f.dir(pod, "cfg"), tc.want, tc.modes)
		})
	}
}

func TestSetupUpdatesAtomically(t *testing.T) {
	f := newFixture(t, configMap("site", map[string]string{"a": "one", "b": "bee"}))
	pod := podWith(cmVolume("cfg", "site", nil, nil, nil))
	ctx := context.Background()
	dir := f.dir(pod, "cfg")
	if err := f.m.Setup(ctx, pod); err != nil {
		t.Fatal(err)
	}
	first, err := os.Readlink(filepath.Join(dir, "..data"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(first, "..2026_12_04_10_00_00.") {
		t.Errorf("..data -> %s, want a timestamped directory", first)
	}
	if target, _ := os.Readlink(filepath.Join(dir, "a")); target != "..data/a" {
		t.Errorf("a -> %q, want ..data/a", target)
	}

	t.Run("unchanged content is not rewritten", func(t *testing.T) {
		f.advance(time.Minute)
		if err := f.m.Setup(ctx, pod); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.Readlink(filepath.Join(dir, "..data")); got != first {
			t.Errorf("..data -> %s after an unchanged sync, want %s", got, first)
		}
	})

	t.Run("update swaps ..data, old files readable until then", func(t *testing.T) {
		if _, err := f.client.CoreV1().ConfigMaps("demo").Update(ctx,
			configMap("site", map[string]string{"a": "two", "c": "sea"}), metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		var during []string
		f.m.beforeSwap = func() {
			target, _ := os.Readlink(filepath.Join(dir, "..data"))
			a, _ := os.ReadFile(filepath.Join(dir, "a"))
			b, _ := os.ReadFile(filepath.Join(dir, "b"))
			during = []string{target, string(a), string(b)}
		}
		defer func() { f.m.beforeSwap = nil }()
		f.advance(time.Minute)
		if err := f.m.Setup(ctx, pod); err != nil {
			t.Fatal(err)
		}
		if want := []string{first, "one", "bee"}; strings.Join(during, "|") != strings.Join(want, "|") {
			t.Errorf("before the swap saw %q, want %q", during, want)
		}
		second, _ := os.Readlink(filepath.Join(dir, "..data"))
		if second == first || !strings.HasPrefix(second, "..2026_12_04_10_02_00.") {
			t.Errorf("..data -> %s after the update, want a new directory (was %s)", second, first)
		}
		wantFiles(t, dir, map[string]string{"a": "two", "c": "sea"}, nil)
		if _, err := os.Stat(filepath.Join(dir, first)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("old version %s still present: %v", first, err)
		}
	})
}

func TestSetupDownwardAPI(t *testing.T) {
	f := newFixture(t)
	pod := podWith(corev1.Volume{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
		Items: []corev1.DownwardAPIVolumeFile{
			{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}},
			{Path: "ns", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}},
			{Path: "uid", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.uid"}},
			{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
			{Path: "annotations", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations"}},
			{Path: "cpu_request", ResourceFieldRef: &corev1.ResourceFieldSelector{
				ContainerName: "app", Resource: "requests.cpu", Divisor: resource.MustParse("1m")}},
			{Path: "mem_limit", Mode: ptr[int32](0o600), ResourceFieldRef: &corev1.ResourceFieldSelector{
				ContainerName: "app", Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}},
		}}}})
	if err := f.m.Setup(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	dir := f.dir(pod, "info")
	wantFiles(t, dir, map[string]string{
		"name": "web-1", "ns": "demo", "uid": "0f6a-uid", "labels": `app="web"`, "annotations": `rev="7"`,
		"cpu_request": "250", "mem_limit": "2048",
	}, map[string]fs.FileMode{"name": 0o644, "mem_limit": 0o600})

	// A label change reaches the file on the next sync.
	pod.Labels["tier"] = "front"
	if err := f.m.Setup(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dir, "labels")); got != "app=\"web\"\ntier=\"front\"" {
		t.Errorf("labels = %q after the change", got)
	}
}

// kubeAPIAccess is the projected volume the API server's admission adds.
func kubeAPIAccess(expiration *int64, audience string) corev1.Volume {
	return corev1.Volume{Name: "kube-api-access-x7k2p", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		DefaultMode: ptr[int32](0o644),
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: expiration, Audience: audience}},
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
				Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}}},
		}}}}
}

func TestSetupKubeAPIAccess(t *testing.T) {
	f := newFixture(t, configMap("kube-root-ca.crt", map[string]string{"ca.crt": "-----BEGIN CERTIFICATE-----"}))
	pod := podWith(kubeAPIAccess(ptr[int64](3607), ""))
	if err := f.m.Setup(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	wantFiles(t, f.dir(pod, "kube-api-access-x7k2p"), map[string]string{
		"token": "token-1-for-web-1", "ca.crt": "-----BEGIN CERTIFICATE-----", "namespace": "demo",
	}, nil)
	if len(f.requests) != 1 {
		t.Fatalf("token requests = %d, want 1", len(f.requests))
	}
	req := f.requests[0]
	ref := req.Spec.BoundObjectRef
	if ref == nil || ref.Kind != "Pod" || ref.APIVersion != "v1" || ref.Name != "web-1" || ref.UID != pod.UID {
		t.Errorf("bound object ref = %+v, want the pod", ref)
	}
	if *req.Spec.ExpirationSeconds != 3607 || len(req.Spec.Audiences) != 0 {
		t.Errorf("request spec = %+v", req.Spec)
	}
	var sa string
	for _, a := range f.client.Actions() {
		if ca, ok := a.(k8stesting.CreateActionImpl); ok && ca.GetSubresource() == "token" {
			sa = ca.Name + "@" + ca.Namespace
		}
	}
	if sa != "robot@demo" {
		t.Errorf("token requested for %q, want robot@demo", sa)
	}
}

func TestTokenRefresh(t *testing.T) {
	cases := []struct {
		name       string
		expiration *int64
		audience   string
		steps      []time.Duration // time since the first sync, in order
		requests   []int           // token requests made after each step
		wantSecs   int64
	}{
		{
			name:  "default hour refreshed at 80%",
			steps: []time.Duration{47 * time.Minute, 48*time.Minute - time.Second, 48 * time.Minute, 60 * time.Minute, 96 * time.Minute},
			// The second token is issued at 48m and is due at 96m.
			requests: []int{1, 1, 2, 2, 3},
			wantSecs: 3600,
		},
		{
			name:       "below the minimum is raised to 600s",
			expiration: ptr[int64](60),
			audience:   "vault",
			steps:      []time.Duration{7 * time.Minute, 8 * time.Minute},
			requests:   []int{1, 2},
			wantSecs:   600,
		},
		{
			name:       "long token refreshed after 24h",
			expiration: ptr[int64](7 * 24 * 3600),
			steps:      []time.Duration{23 * time.Hour, 24 * time.Hour},
			requests:   []int{1, 2},
			wantSecs:   7 * 24 * 3600,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, configMap("kube-root-ca.crt", map[string]string{"ca.crt": "CA"}))
			pod := podWith(kubeAPIAccess(tc.expiration, tc.audience))
			ctx := context.Background()
			if err := f.m.Setup(ctx, pod); err != nil {
				t.Fatal(err)
			}
			start := f.clock()
			tokenFile := filepath.Join(f.dir(pod, "kube-api-access-x7k2p"), "token")
			for i, at := range tc.steps {
				f.advance(start.Add(at).Sub(f.clock()))
				if err := f.m.Setup(ctx, pod); err != nil {
					t.Fatal(err)
				}
				if got := f.tokenRequests(); got != tc.requests[i] {
					t.Errorf("after %v: %d token requests, want %d", at, got, tc.requests[i])
				}
				if got, want := readFile(t, tokenFile), fmt.Sprintf("token-%d-for-web-1", tc.requests[i]); got != want {
					t.Errorf("after %v: token file %q, want %q", at, got, want)
				}
			}
			for _, r := range f.requests {
				if *r.Spec.ExpirationSeconds != tc.wantSecs {
					t.Errorf("requested %ds, want %ds", *r.Spec.ExpirationSeconds, tc.wantSecs)
				}
				if tc.audience != "" && (len(r.Spec.Audiences) != 1 || r.Spec.Audiences[0] != tc.audience) {
					t.Errorf("audiences %q, want [%s]", r.Spec.Audiences, tc.audience)
				}
			}
		})
	}
}

func TestTokenRefreshFailureKeepsValidToken(t *testing.T) {
	f := newFixture(t, configMap("kube-root-ca.crt", map[string]string{"ca.crt": "CA"}))
	pod := podWith(kubeAPIAccess(nil, ""))
	ctx := context.Background()
	if err := f.m.Setup(ctx, pod); err != nil {
		t.Fatal(err)
	}
	f.client.PrependReactor("create", "serviceaccounts", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("apiserver unavailable")
	})
	f.advance(50 * time.Minute) // due, not expired
	if err := f.m.Setup(ctx, pod); err != nil {
		t.Fatalf("Setup with a due but valid token: %v", err)
	}
	f.advance(11 * time.Minute) // expired
	if err := f.m.Setup(ctx, pod); err == nil || !strings.Contains(err.Error(), "apiserver unavailable") {
		t.Fatalf("Setup with an expired token and a failing API = %v, want the API error", err)
	}
}

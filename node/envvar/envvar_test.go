package envvar

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// fakeLister serves objects from maps keyed by "namespace/name".
type fakeLister struct {
	configMaps map[string]*corev1.ConfigMap
	secrets    map[string]*corev1.Secret
	services   []*corev1.Service
	gets       int
}

func (f *fakeLister) ConfigMap(_ context.Context, ns, name string) (*corev1.ConfigMap, error) {
	f.gets++
	if cm, ok := f.configMaps[ns+"/"+name]; ok {
		return cm, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, name)
}

func (f *fakeLister) Secret(_ context.Context, ns, name string) (*corev1.Secret, error) {
	f.gets++
	if s, ok := f.secrets[ns+"/"+name]; ok {
		return s, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, name)
}

func (f *fakeLister) Services(ns string) ([]*corev1.Service, error) {
	var out []*corev1.Service
	for _, s := range f.services {
		if s.Namespace == ns {
			out = append(out, s)
		}
	}
	return out, nil
}

func newLister() *fakeLister {
	return &fakeLister{
		configMaps: map[string]*corev1.ConfigMap{
			"demo/site": {Data: map[string]string{"host": "example.org", "port": "8080", "bad=key": "x", "1st": "y"}},
		},
		secrets: map[string]*corev1.Secret{
			"demo/creds": {Data: map[string][]byte{"user": []byte("admin"), "pass": []byte("s3cret")}},
		},
		services: []*corev1.Service{
			{ObjectMeta: metav1.ObjectMeta{Name: "web-front", Namespace: "demo"}, Spec: corev1.ServiceSpec{
				ClusterIP: "10.96.0.20",
				Ports: []corev1.ServicePort{
					{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP},
					{Name: "dns-udp", Port: 53, Protocol: corev1.ProtocolUDP},
				}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "headless", Namespace: "demo"}, Spec: corev1.ServiceSpec{
				ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{{Port: 80}}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "elsewhere", Namespace: "other"}, Spec: corev1.ServiceSpec{
				ClusterIP: "10.96.0.30", Ports: []corev1.ServicePort{{Port: 80}}}},
		},
	}
}

func testPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "demo", UID: "uid-1",
			Labels: map[string]string{"app": "web", "tier": "front"}, Annotations: map[string]string{"note": "hi"}},
		Spec:   corev1.PodSpec{NodeName: "node-a", ServiceAccountName: "robot"},
		Status: corev1.PodStatus{PodIPs: []corev1.PodIP{{IP: "10.244.0.5"}, {IP: "fd00::5"}}},
	}
}

func ptr[T any](v T) *T { return &v }

var kubernetesVars = []string{
	"KUBERNETES_SERVICE_HOST=10.96.0.1",
	"KUBERNETES_SERVICE_PORT=443",
	"KUBERNETES_SERVICE_PORT_HTTPS=443",
	"KUBERNETES_PORT=tcp://10.96.0.1:443",
	"KUBERNETES_PORT_443_TCP=tcp://10.96.0.1:443",
	"KUBERNETES_PORT_443_TCP_PROTO=tcp",
	"KUBERNETES_PORT_443_TCP_PORT=443",
	"KUBERNETES_PORT_443_TCP_ADDR=10.96.0.1",
}

var webFrontVars = []string{
	"WEB_FRONT_SERVICE_HOST=10.96.0.20",
	"WEB_FRONT_SERVICE_PORT=80",
	"WEB_FRONT_SERVICE_PORT_HTTP=80",
	"WEB_FRONT_SERVICE_PORT_DNS_UDP=53",
	"WEB_FRONT_PORT=tcp://10.96.0.20:80",
	"WEB_FRONT_PORT_80_TCP=tcp://10.96.0.20:80",
	"WEB_FRONT_PORT_80_TCP_PROTO=tcp",
	"WEB_FRONT_PORT_80_TCP_PORT=80",
	"WEB_FRONT_PORT_80_TCP_ADDR=10.96.0.20",
	"WEB_FRONT_PORT_53_UDP=udp://10.96.0.20:53",
	"WEB_FRONT_PORT_53_UDP_PROTO=udp",
	"WEB_FRONT_PORT_53_UDP_PORT=53",
	"WEB_FRONT_PORT_53_UDP_ADDR=10.96.0.20",
}

func TestResolve(t *testing.T) {
	noLinks := func(p *corev1.Pod) { p.Spec.EnableServiceLinks = ptr(false) }
	cases := []struct {
		name    string
		podMod  func(*corev1.Pod)
		c       corev1.Container
		want    []string // exact result, or
		wantSub []string // entries that must be present (in this order)
		wantErr string   // error text; wraps ErrConfig unless notConfig
		notCfg  bool
		warn    string
	}{
		{
			name:    "service links in namespace order by name then kubernetes first",
			c:       corev1.Container{Name: "app"},
			want:    append(slices.Clone(kubernetesVars), webFrontVars...),
			podMod:  nil,
			wantSub: nil,
		},
		{
			name:   "service links disabled keeps kubernetes vars",
			podMod: noLinks,
			c:      corev1.Container{Name: "app"},
			want:   kubernetesVars,
		},
		{
			name:   "literal values and expansion",
			podMod: noLinks,
			c: corev1.Container{Name: "app", Env: []corev1.EnvVar{
				{Name: "A", Value: "one"},
				{Name: "B", Value: "$(A)-two"},
				{Name: "C", Value: "$$(A) $(MISSING) $(KUBERNETES_SERVICE_HOST) $(D)"},
				{Name: "D", Value: "late"},
				{Name: "E"},
			}},
			want: append(slices.Clone(kubernetesVars),
				"A=one", "B=one-two", "C=$(A) $(MISSING) 10.96.0.1 $(D)", "D=late", "E="),
		},
		{
			name:   "envFrom with prefix, invalid keys skipped, env overrides",
			podMod: noLinks,
			c: corev1.Container{Name: "app",
				EnvFrom: []corev1.EnvFromSource{
					{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "site"}}},
					{Prefix: "DB_", SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}}},
					{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Optional: ptr(true)}},
				},
				Env: []corev1.EnvVar{{Name: "host", Value: "override:$(port)"}},
			},
			want: append(slices.Clone(kubernetesVars),
				"1st=y", "port=8080", "DB_pass=s3cret", "DB_user=admin", "host=override:8080"),
			warn: "InvalidEnvironmentVariableNames: Keys [bad=key] from the EnvFrom configMap demo/site were skipped since they are considered invalid environment variable names.",
		},
		{
			name:   "env overrides a service variable",
			podMod: noLinks,
			c:      corev1.Container{Name: "app", Env: []corev1.EnvVar{{Name: "KUBERNETES_SERVICE_HOST", Value: "api.local"}}},
			want:   append(slices.Clone(kubernetesVars[1:]), "KUBERNETES_SERVICE_HOST=api.local"),
		},
		{
			name:   "key refs, optional missing left out",
			podMod: noLinks,
			c: corev1.Container{Name: "app", Env: []corev1.EnvVar{
				{Name: "HOST", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: "site"}, Key: "host"}}},
				{Name: "PASS", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "pass"}}},
				{Name: "NOKEY", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "token", Optional: ptr(true)}}},
				{Name: "NOMAP", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}, Key: "x", Optional: ptr(true)}}},
			}},
			want: append(slices.Clone(kubernetesVars), "HOST=example.org", "PASS=s3cret"),
		},
		{
			name:   "missing configmap",
			podMod: noLinks,
			c: corev1.Container{Name: "app", EnvFrom: []corev1.EnvFromSource{
				{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "x"}}}}},
			wantErr: `configmap "x" not found`,
		},
		{
			name:   "missing secret key",
			podMod: noLinks,
			c: corev1.Container{Name: "app", Env: []corev1.EnvVar{
				{Name: "T", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "token"}}}}},
			wantErr: "couldn't find key token in Secret demo/creds",
		},
		{
			name:   "missing configmap key",
			podMod: noLinks,
			c: corev1.Container{Name: "app", Env: []corev1.EnvVar{
				{Name: "T", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: "site"}, Key: "x"}}}}},
			wantErr: "couldn't find key x in ConfigMap demo/site",
		},
		{
			name:   "missing secret",
			podMod: noLinks,
			c: corev1.Container{Name: "app", Env: []corev1.EnvVar{
				{Name: "T", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: "vault"}, Key: "token"}}}}},
			wantErr: `secret "vault" not found`,
		},
		{
			name:   "field refs",
			podMod: noLinks,
			c: corev1.Container{Name: "app", Env: []corev1.EnvVar{
				fieldEnv("NAME", "metadata.name"), fieldEnv("NS", "metadata.namespace"), fieldEnv("UID", "metadata.uid"),
				fieldEnv("APP", "metadata.labels['app']"), fieldEnv("NOTE", "metadata.annotations['note']"),
				fieldEnv("LABELS", "metadata.labels"), fieldEnv("NODE", "spec.nodeName"),
				fieldEnv("SA", "spec.serviceAccountName"), fieldEnv("HOST_IP", "status.hostIP"),
				fieldEnv("HOST_IPS", "status.hostIPs"), fieldEnv("POD_IP", "status.podIP"),
				fieldEnv("POD_IPS", "status.podIPs"),
				{Name: "URL", Value: "http://$(POD_IP):80/$(NAME)"},
			}},
			want: append(slices.Clone(kubernetesVars),
				"NAME=web-1", "NS=demo", "UID=uid-1", "APP=web", "NOTE=hi",
				"LABELS=app=\"web\"\ntier=\"front\"", "NODE=node-a", "SA=robot",
				"HOST_IP=192.168.1.10", "HOST_IPS=192.168.1.10", "POD_IP=10.244.0.5",
				"POD_IPS=10.244.0.5,fd00::5", "URL=http://10.244.0.5:80/web-1"),
		},
		{
			name:    "unsupported field ref",
			podMod:  noLinks,
			c:       corev1.Container{Name: "app", Env: []corev1.EnvVar{fieldEnv("X", "spec.hostname")}},
			wantErr: "env X of container app: unsupported fieldPath: spec.hostname",
		},
		{
			name:   "resource refs with divisor and allocatable fallback",
			podMod: noLinks,
			c: corev1.Container{Name: "app",
				Resources: corev1.ResourceRequirements{
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m")},
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
				},
				Env: []corev1.EnvVar{
					resourceEnv("CPU_LIMIT", "limits.cpu", ""),
					resourceEnv("CPU_LIMIT_M", "limits.cpu", "1m"),
					resourceEnv("CPU_REQ", "requests.cpu", ""),
					resourceEnv("MEM_LIMIT_MI", "limits.memory", "1Mi"),
					resourceEnv("MEM_REQ", "requests.memory", ""),
					resourceEnv("EPH_REQ", "requests.ephemeral-storage", ""),
				}},
			want: append(slices.Clone(kubernetesVars),
				"CPU_LIMIT=2", "CPU_LIMIT_M=1500", "CPU_REQ=1", "MEM_LIMIT_MI=4096", "MEM_REQ=67108864", "EPH_REQ=0"),
		},
		{
			name:    "unsupported resource",
			podMod:  noLinks,
			c:       corev1.Container{Name: "app", Env: []corev1.EnvVar{resourceEnv("X", "limits.gpu", "")}},
			wantErr: "env X of container app: unsupported container resource: limits.gpu",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := testPod()
			if tc.podMod != nil {
				tc.podMod(pod)
			}
			var warns []string
			cfg := Config{
				MasterServiceHost: "10.96.0.1", Lister: newLister(), NodeName: "node-a", NodeIP: "192.168.1.10",
				NodeAllocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("4Gi")},
				Warn:            func(reason, msg string) { warns = append(warns, reason+": "+msg) },
			}
			got, err := Resolve(context.Background(), cfg, pod, &tc.c, "10.244.0.5")
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("Resolve = %q, want error %q", got, tc.wantErr)
				}
				if err.Error() != tc.wantErr {
					t.Errorf("error = %q, want %q", err, tc.wantErr)
				}
				if !errors.Is(err, ErrConfig) {
					t.Errorf("error %v does not wrap ErrConfig", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Resolve =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			if want := tc.warn; want != "" && (len(warns) != 1 || warns[0] != want) {
				t.Errorf("warnings = %q, want [%q]", warns, want)
			} else if want == "" && len(warns) > 0 {
				t.Errorf("unexpected warnings %q", warns)
			}
		})
	}
}

func TestResolveNamespaceKubernetesServiceWins(t *testing.T) {
	l := newLister()
	l.services = append(l.services, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "demo"},
		Spec: corev1.ServiceSpec{ClusterIP: "10.96.9.9", Ports: []corev1.ServicePort{{Port: 6443}}}})
	got, err := Resolve(context.Background(), Config{MasterServiceHost: "10.96.0.1", Lister: l}, testPod(), &corev1.Container{Name: "app"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(got, "KUBERNETES_SERVICE_HOST=10.96.9.9") || slices.Contains(got, "KUBERNETES_SERVICE_HOST=10.96.0.1") {
		t.Errorf("Resolve = %q, want the namespace's kubernetes Service", got)
	}
}

func TestResolveReadsEachObjectOnce(t *testing.T) {
	l := newLister()
	ref := func(name, key string) corev1.EnvVar {
		return corev1.EnvVar{Name: strings.ToUpper(key), ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key}}}
	}
	c := corev1.Container{Name: "app", Env: []corev1.EnvVar{ref("site", "host"), ref("site", "port")}}
	if _, err := Resolve(context.Background(), Config{Lister: l}, testPod(), &c, ""); err != nil {
		t.Fatal(err)
	}
	if l.gets != 1 {
		t.Errorf("lister gets = %d, want 1", l.gets)
	}
}

func fieldEnv(name, path string) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
}

func resourceEnv(name, res, divisor string) corev1.EnvVar {
	sel := &corev1.ResourceFieldSelector{Resource: res}
	if divisor != "" {
		sel.Divisor = resource.MustParse(divisor)
	}
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: sel}}
}

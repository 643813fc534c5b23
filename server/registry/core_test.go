package registry

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// coreResource returns the core resource named plural, failing the test
// when there is none.
func coreResource(t *testing.T, plural string) *Resource {
	t.Helper()
	for _, r := range coreResources() {
		if r.Resource == plural {
			return r
		}
	}
	t.Fatalf("no core resource %q", plural)
	return nil
}

// coreHasError reports whether errs holds an error of type typ at path.
func coreHasError(errs field.ErrorList, typ field.ErrorType, path string) bool {
	for _, e := range errs {
		if e.Type == typ && e.Field == path {
			return true
		}
	}
	return false
}

// corePod is a valid, undefaulted pod with one container "web".
func corePod(mutate func(*corev1.Pod)) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "demo"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name:  "web",
			Image: "registry.local/web:1",
			Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
		}}},
	}
	if mutate != nil {
		mutate(pod)
	}
	return pod
}

// coreService is a valid, undefaulted ClusterIP service on port 80.
func coreService(mutate func(*corev1.Service)) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "demo"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Port: 80}},
		},
	}
	if mutate != nil {
		mutate(svc)
	}
	return svc
}

func TestCoreResourcesShape(t *testing.T) {
	tests := []struct {
		plural       string
		kind         string
		namespaced   bool
		shortName    string
		inAll        bool
		subresources []string
	}{
		{"namespaces", "Namespace", false, "ns", false, []string{"status", "finalize"}},
		{"nodes", "Node", false, "no", false, []string{"status"}},
		{"pods", "Pod", true, "po", true, []string{"status", "binding", "eviction", "log", "exec", "attach", "portforward"}},
		{"services", "Service", true, "svc", true, []string{"status"}},
		{"endpoints", "Endpoints", true, "ep", false, nil},
		{"configmaps", "ConfigMap", true, "cm", false, nil},
		{"secrets", "Secret", true, "", false, nil},
		{"events", "Event", true, "ev", false, nil},
		{"serviceaccounts", "ServiceAccount", true, "sa", false, []string{"token"}},
	}
	for _, tt := range tests {
		t.Run(tt.plural, func(t *testing.T) {
			r := coreResource(t, tt.plural)
			if r.Group != "" || r.Version != "v1" || r.Kind != tt.kind || r.ListKind != tt.kind+"List" {
				t.Errorf("group/version/kind = %q/%q/%q/%q, want core v1 %s", r.Group, r.Version, r.Kind, r.ListKind, tt.kind)
			}
			if r.Namespaced != tt.namespaced {
				t.Errorf("Namespaced = %v, want %v", r.Namespaced, tt.namespaced)
			}
			if tt.shortName != "" && (len(r.ShortNames) != 1 || r.ShortNames[0] != tt.shortName) {
				t.Errorf("ShortNames = %v, want [%s]", r.ShortNames, tt.shortName)
			}
			if got := len(r.Categories) == 1 && r.Categories[0] == "all"; got != tt.inAll {
				t.Errorf("Categories = %v, in all = %v, want %v", r.Categories, got, tt.inAll)
			}
			if strings.Join(r.Subresources, ",") != strings.Join(tt.subresources, ",") {
				t.Errorf("Subresources = %v, want %v", r.Subresources, tt.subresources)
			}
			// kubectl decodes what New/NewList return: they must be the
			// typed kinds.
			if got := fmt.Sprintf("%T", r.New()); got != "*v1."+tt.kind {
				t.Errorf("New() = %s, want *v1.%s", got, tt.kind)
			}
			if got := fmt.Sprintf("%T", r.NewList()); got != "*v1."+tt.kind+"List" {
				t.Errorf("NewList() = %s, want *v1.%sList", got, tt.kind)
			}
			// Every row must have one cell per column, or kubectl prints
			// shifted columns.
			if cells := r.Row(r.New()); len(cells) != len(r.Columns) {
				t.Errorf("Row has %d cells for %d columns", len(cells), len(r.Columns))
			}
		})
	}
}

// coreSameJSON reports whether a and b encode to the same JSON.
func coreSameJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	return string(ja) == string(jb)
}

func TestPodDefaults(t *testing.T) {
	pod := corePod(func(p *corev1.Pod) {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "sidecar", Image: "busybox"})
		p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}
	})
	coreResource(t, "pods").Default(pod)
	c := pod.Spec.Containers[0]
	tests := []struct {
		name      string
		got, want any
	}{
		{"restartPolicy", pod.Spec.RestartPolicy, corev1.RestartPolicyAlways},
		{"dnsPolicy", pod.Spec.DNSPolicy, corev1.DNSClusterFirst},
		{"schedulerName", pod.Spec.SchedulerName, "default-scheduler"},
		{"terminationGracePeriodSeconds", derefInt64(pod.Spec.TerminationGracePeriodSeconds), int64(30)},
		{"securityContext set", pod.Spec.SecurityContext != nil, true},
		{"enableServiceLinks", pod.Spec.EnableServiceLinks != nil && *pod.Spec.EnableServiceLinks, true},
		{"terminationMessagePath", c.TerminationMessagePath, "/dev/termination-log"},
		{"terminationMessagePolicy", c.TerminationMessagePolicy, corev1.TerminationMessageReadFile},
		{"tagged image pulls IfNotPresent", c.ImagePullPolicy, corev1.PullIfNotPresent},
		{"untagged image pulls Always", pod.Spec.Containers[1].ImagePullPolicy, corev1.PullAlways},
		{"port protocol", c.Ports[0].Protocol, corev1.ProtocolTCP},
		{"cpu request defaults to limit", c.Resources.Requests.Cpu().String(), "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
	t.Run("idempotent", func(t *testing.T) {
		again := pod.DeepCopy()
		coreResource(t, "pods").Default(again)
		if !coreSameJSON(t, again, pod) {
			t.Error("defaulting a defaulted pod changed it")
		}
	})
}

func derefInt64(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestServiceDefaults(t *testing.T) {
	tests := []struct {
		name  string
		svc   *corev1.Service
		check func(t *testing.T, s *corev1.ServiceSpec)
	}{
		{"minimal service", coreService(nil), func(t *testing.T, s *corev1.ServiceSpec) {
			if s.Type != corev1.ServiceTypeClusterIP || s.SessionAffinity != corev1.ServiceAffinityNone {
				t.Errorf("type %q affinity %q, want ClusterIP None", s.Type, s.SessionAffinity)
			}
			if p := s.Ports[0]; p.Protocol != corev1.ProtocolTCP || p.TargetPort != intstr.FromInt32(80) {
				t.Errorf("port = %+v, want TCP with targetPort 80", p)
			}
			if s.IPFamilyPolicy == nil || *s.IPFamilyPolicy != corev1.IPFamilyPolicySingleStack || len(s.IPFamilies) != 1 || s.IPFamilies[0] != corev1.IPv4Protocol {
				t.Errorf("ipFamilyPolicy %v families %v, want SingleStack [IPv4]", s.IPFamilyPolicy, s.IPFamilies)
			}
			if s.InternalTrafficPolicy == nil || *s.InternalTrafficPolicy != corev1.ServiceInternalTrafficPolicyCluster {
				t.Errorf("internalTrafficPolicy = %v, want Cluster", s.InternalTrafficPolicy)
			}
			if s.ExternalTrafficPolicy != "" {
				t.Errorf("externalTrafficPolicy = %q on a ClusterIP service, want unset", s.ExternalTrafficPolicy)
			}
		}},
		{"explicit targetPort is kept", coreService(func(s *corev1.Service) {
			s.Spec.Ports[0].TargetPort = intstr.FromString("http")
		}), func(t *testing.T, s *corev1.ServiceSpec) {
			if s.Ports[0].TargetPort != intstr.FromString("http") {
				t.Errorf("targetPort = %v, want http", s.Ports[0].TargetPort)
			}
		}},
		{"NodePort gets externalTrafficPolicy Cluster", coreService(func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
		}), func(t *testing.T, s *corev1.ServiceSpec) {
			if s.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyCluster {
				t.Errorf("externalTrafficPolicy = %q, want Cluster", s.ExternalTrafficPolicy)
			}
		}},
		{"ClientIP affinity gets a 3h timeout", coreService(func(s *corev1.Service) {
			s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
		}), func(t *testing.T, s *corev1.ServiceSpec) {
			if c := s.SessionAffinityConfig; c == nil || c.ClientIP == nil || c.ClientIP.TimeoutSeconds == nil || *c.ClientIP.TimeoutSeconds != 10800 {
				t.Errorf("sessionAffinityConfig = %+v, want clientIP.timeoutSeconds 10800", c)
			}
		}},
		{"ExternalName gets no IP family", coreService(func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ExternalName, s.Spec.Ports = corev1.ServiceTypeExternalName, "db.example.com", nil
		}), func(t *testing.T, s *corev1.ServiceSpec) {
			if s.IPFamilyPolicy != nil || len(s.IPFamilies) != 0 {
				t.Errorf("ipFamilyPolicy %v families %v, want none", s.IPFamilyPolicy, s.IPFamilies)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			coreResource(t, "services").Default(tt.svc)
			tt.check(t, &tt.svc.Spec)
		})
	}
}

func TestNamespaceAndSecretDefaults(t *testing.T) {
	t.Run("new namespace is Active with the kubernetes finalizer and its name label", func(t *testing.T) {
		r := coreResource(t, "namespaces")
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "demo"}}
		r.Default(ns)
		r.PrepareForCreate(ns)
		if ns.Status.Phase != corev1.NamespaceActive {
			t.Errorf("phase = %q, want Active", ns.Status.Phase)
		}
		if len(ns.Spec.Finalizers) != 1 || ns.Spec.Finalizers[0] != corev1.FinalizerKubernetes {
			t.Errorf("finalizers = %v, want [kubernetes]", ns.Spec.Finalizers)
		}
		if ns.Labels[corev1.LabelMetadataName] != "demo" {
			t.Errorf("labels = %v, want kubernetes.io/metadata.name=demo", ns.Labels)
		}
	})
	t.Run("only finalize may clear the finalizer", func(t *testing.T) {
		r := coreResource(t, "namespaces")
		old := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "demo", Labels: map[string]string{"a": "b"}}, Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"kubernetes"}}}
		ns := old.DeepCopy()
		ns.Spec.Finalizers = nil
		r.Default(ns)
		r.PrepareForUpdate(ns, old)
		if len(ns.Spec.Finalizers) != 1 {
			t.Errorf("update: finalizers = %v after clearing, want [kubernetes] kept", ns.Spec.Finalizers)
		}
		ns = old.DeepCopy()
		ns.Spec.Finalizers = nil
		ns.Labels = map[string]string{"a": "changed"}
		r.PrepareForFinalize(ns, old)
		if len(ns.Spec.Finalizers) != 0 || ns.Labels["a"] != "b" {
			t.Errorf("finalize: finalizers %v labels %v, want none and the stored labels", ns.Spec.Finalizers, ns.Labels)
		}
	})
	t.Run("secret stringData lands in data and is not stored", func(t *testing.T) {
		s := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: "demo"},
			Data:       map[string][]byte{"user": []byte("old"), "keep": []byte("k")},
			StringData: map[string]string{"user": "admin", "password": "s3cr3t"},
		}
		coreResource(t, "secrets").Default(s)
		if s.Type != corev1.SecretTypeOpaque {
			t.Errorf("type = %q, want Opaque", s.Type)
		}
		if string(s.Data["user"]) != "admin" || string(s.Data["password"]) != "s3cr3t" || string(s.Data["keep"]) != "k" {
			t.Errorf("data = %q, want stringData merged over data", s.Data)
		}
		if s.StringData != nil {
			t.Errorf("stringData = %v, want cleared", s.StringData)
		}
	})
}

func TestCoreValidate(t *testing.T) {
	big := strings.Repeat("x", corev1.MaxSecretSize+1)
	tests := []struct {
		name     string
		resource string
		obj      runtime.Object
		errType  field.ErrorType // "" means the object must be valid
		errField string
	}{
		{"valid pod", "pods", corePod(nil), "", ""},
		{"valid service", "services", coreService(nil), "", ""},
		{"valid configmap", "configmaps", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "web-config"}, Data: map[string]string{"app.conf": "x"}}, "", ""},
		{"valid namespace", "namespaces", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "demo"}}, "", ""},
		{"headless service needs no ports", "services", coreService(func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.Ports = corev1.ClusterIPNone, nil
		}), "", ""},

		{"configmap Bad_Name", "configmaps", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "Bad_Name"}}, field.ErrorTypeInvalid, "metadata.name"},
		{"pod Bad_Name", "pods", corePod(func(p *corev1.Pod) { p.Name = "Bad_Name" }), field.ErrorTypeInvalid, "metadata.name"},
		{"service name must start with a letter", "services", coreService(func(s *corev1.Service) { s.Name = "1web" }), field.ErrorTypeInvalid, "metadata.name"},
		{"namespace name may not have dots", "namespaces", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team.a"}}, field.ErrorTypeInvalid, "metadata.name"},

		{"pod without containers", "pods", corePod(func(p *corev1.Pod) { p.Spec.Containers = nil }), field.ErrorTypeRequired, "spec.containers"},
		{"duplicate container names", "pods", corePod(func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "web", Image: "busybox"})
		}), field.ErrorTypeDuplicate, "spec.containers[1].name"},
		{"container name not a DNS label", "pods", corePod(func(p *corev1.Pod) { p.Spec.Containers[0].Name = "Web_1" }), field.ErrorTypeInvalid, "spec.containers[0].name"},
		{"container without image", "pods", corePod(func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" }), field.ErrorTypeRequired, "spec.containers[0].image"},
		{"container port out of range", "pods", corePod(func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 70000 }), field.ErrorTypeInvalid, "spec.containers[0].ports[0].containerPort"},
		{"unknown restart policy", "pods", corePod(func(p *corev1.Pod) { p.Spec.RestartPolicy = "Sometimes" }), field.ErrorTypeNotSupported, "spec.restartPolicy"},
		{"mount of an undeclared volume", "pods", corePod(func(p *corev1.Pod) {
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
		}), field.ErrorTypeNotFound, "spec.containers[0].volumeMounts[0].name"},
		{"request above limit", "pods", corePod(func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("2Gi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
			}
		}), field.ErrorTypeInvalid, "spec.containers[0].resources.requests[memory]"},
		{"toleration with bad effect", "pods", corePod(func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpExists, Effect: "Sometimes"}}
		}), field.ErrorTypeNotSupported, "spec.tolerations[0].effect"},

		{"service without ports", "services", coreService(func(s *corev1.Service) { s.Spec.Ports = nil }), field.ErrorTypeRequired, "spec.ports"},
		{"service port 0", "services", coreService(func(s *corev1.Service) { s.Spec.Ports[0].Port = 0 }), field.ErrorTypeInvalid, "spec.ports[0].port"},
		{"two unnamed service ports", "services", coreService(func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Port: 443})
		}), field.ErrorTypeRequired, "spec.ports[1].name"},
		{"nodePort on a ClusterIP service", "services", coreService(func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30080 }), field.ErrorTypeForbidden, "spec.ports[0].nodePort"},
		{"bad selector key", "services", coreService(func(s *corev1.Service) { s.Spec.Selector = map[string]string{"bad key": "x"} }), field.ErrorTypeInvalid, "spec.selector"},

		{"configmap key with a space", "configmaps", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Data: map[string]string{"a b": "x"}}, field.ErrorTypeInvalid, "data[a b]"},
		{"configmap over 1 MiB", "configmaps", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Data: map[string]string{"big": big}}, field.ErrorTypeTooLong, "data"},
		{"secret key with a slash", "secrets", &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}, Data: map[string][]byte{"a/b": nil}}, field.ErrorTypeInvalid, "data[a/b]"},
		{"TLS secret without key", "secrets", &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}, Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": []byte("c")}}, field.ErrorTypeRequired, "data[tls.key]"},
		{"event without involved object", "events", &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "web.1", Namespace: "demo"}, Reason: "Started"}, field.ErrorTypeRequired, "involvedObject"},
		{"event about another namespace's object", "events", &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: "web.1", Namespace: "demo"},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web", Namespace: "other"},
		}, field.ErrorTypeInvalid, "involvedObject.namespace"},
		{"node taint without effect", "nodes", &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}, Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: "dedicated", Value: "db"}}}}, field.ErrorTypeRequired, "spec.taints[0].effect"},
		{"endpoints address not an IP", "endpoints", &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: "web-1"}}, Ports: []corev1.EndpointPort{{Port: 8080}},
		}}}, field.ErrorTypeInvalid, "subsets[0].addresses[0].ip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := coreResource(t, tt.resource)
			if r.Default != nil {
				r.Default(tt.obj) // the server defaults before it validates
			}
			errs := r.Validate(tt.obj)
			if tt.errType == "" {
				if len(errs) != 0 {
					t.Fatalf("Validate() = %v, want no errors", errs)
				}
				return
			}
			if !coreHasError(errs, tt.errType, tt.errField) {
				t.Errorf("Validate() = %v, want %s at %s", errs, tt.errType, tt.errField)
			}
		})
	}
}

func TestPodValidateUpdate(t *testing.T) {
	stored := corePod(func(p *corev1.Pod) {
		p.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "db", Effect: corev1.TaintEffectNoSchedule}}
		p.Spec.ActiveDeadlineSeconds = ptrTo(int64(600))
	})
	r := coreResource(t, "pods")
	r.Default(stored)
	tests := []struct {
		name     string
		mutate   func(*corev1.Pod)
		errType  field.ErrorType
		errField string
	}{
		{"new image is allowed", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "registry.local/web:2" }, "", ""},
		{"added toleration is allowed", func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "gpu", Operator: corev1.TolerationOpExists})
		}, "", ""},
		{"lower activeDeadlineSeconds is allowed", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptrTo(int64(60)) }, "", ""},
		{"labels may change", func(p *corev1.Pod) { p.Labels = map[string]string{"tier": "web"} }, "", ""},
		{"command is immutable", func(p *corev1.Pod) { p.Spec.Containers[0].Command = []string{"sh"} }, field.ErrorTypeForbidden, "spec"},
		{"removed toleration is forbidden", func(p *corev1.Pod) { p.Spec.Tolerations = nil }, field.ErrorTypeForbidden, "spec"},
		{"nodeName is immutable", func(p *corev1.Pod) { p.Spec.NodeName = "node-a" }, field.ErrorTypeForbidden, "spec"},
		{"added container is forbidden", func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "extra", Image: "busybox"})
		}, field.ErrorTypeForbidden, "spec"},
		{"higher activeDeadlineSeconds is rejected", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptrTo(int64(6000)) }, field.ErrorTypeInvalid, "spec.activeDeadlineSeconds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := stored.DeepCopy()
			tt.mutate(pod)
			r.Default(pod)
			r.PrepareForUpdate(pod, stored)
			errs := r.ValidateUpdate(pod, stored)
			if tt.errType == "" {
				if len(errs) != 0 {
					t.Fatalf("ValidateUpdate() = %v, want no errors", errs)
				}
				return
			}
			if !coreHasError(errs, tt.errType, tt.errField) {
				t.Errorf("ValidateUpdate() = %v, want %s at %s", errs, tt.errType, tt.errField)
			}
		})
	}
	t.Run("forbidden message names the changed field", func(t *testing.T) {
		pod := stored.DeepCopy()
		pod.Spec.NodeName = "node-a"
		errs := r.ValidateUpdate(pod, stored)
		if len(errs) == 0 || !strings.Contains(errs[0].Detail, "nodeName") {
			t.Errorf("ValidateUpdate() = %v, want a message naming nodeName", errs)
		}
	})
}

func ptrTo[T any](v T) *T { return &v }

func TestCoreStatusRules(t *testing.T) {
	running := corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.244.0.5"}
	tests := []struct {
		name  string
		check func(t *testing.T)
	}{
		{"pod create starts Pending and drops client status", func(t *testing.T) {
			pod := corePod(func(p *corev1.Pod) { p.Status = running })
			coreResource(t, "pods").PrepareForCreate(pod)
			if pod.Status.Phase != corev1.PodPending || pod.Status.PodIP != "" {
				t.Errorf("status = %+v, want phase Pending only", pod.Status)
			}
		}},
		{"pod main update keeps the stored status", func(t *testing.T) {
			old := corePod(func(p *corev1.Pod) { p.Status = running })
			pod := old.DeepCopy()
			pod.Status = corev1.PodStatus{Phase: corev1.PodFailed}
			coreResource(t, "pods").PrepareForUpdate(pod, old)
			if pod.Status.Phase != corev1.PodRunning || pod.Status.PodIP != "10.244.0.5" {
				t.Errorf("status = %+v, want the stored Running status", pod.Status)
			}
		}},
		{"pod status update keeps the stored spec and takes the new status", func(t *testing.T) {
			old := corePod(func(p *corev1.Pod) { p.Status.Phase = corev1.PodPending })
			pod := old.DeepCopy()
			pod.Spec.Containers[0].Image = "evil:1"
			pod.Status = running
			coreResource(t, "pods").PrepareForStatusUpdate(pod, old)
			if pod.Spec.Containers[0].Image != "registry.local/web:1" {
				t.Errorf("image = %q, want the stored spec", pod.Spec.Containers[0].Image)
			}
			if pod.Status.Phase != corev1.PodRunning {
				t.Errorf("phase = %q, want the new Running", pod.Status.Phase)
			}
		}},
		{"service create clears status", func(t *testing.T) {
			svc := coreService(func(s *corev1.Service) {
				s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "1.2.3.4"}}
			})
			coreResource(t, "services").PrepareForCreate(svc)
			if len(svc.Status.LoadBalancer.Ingress) != 0 {
				t.Errorf("status = %+v, want empty", svc.Status)
			}
		}},
		{"node create keeps the status the node agent reports", func(t *testing.T) {
			node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}, Status: corev1.NodeStatus{
				Capacity: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")},
			}}
			r := coreResource(t, "nodes")
			r.Default(node)
			if r.PrepareForCreate != nil {
				r.PrepareForCreate(node)
			}
			if node.Status.Capacity.Cpu().String() != "4" || node.Status.Allocatable.Cpu().String() != "4" {
				t.Errorf("status = %+v, want capacity kept and allocatable defaulted to it", node.Status)
			}
		}},
		{"node cordon keeps the stored status", func(t *testing.T) {
			old := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}, Status: corev1.NodeStatus{
				Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
			}}
			node := old.DeepCopy()
			node.Spec.Unschedulable = true
			node.Status = corev1.NodeStatus{}
			coreResource(t, "nodes").PrepareForUpdate(node, old)
			if !node.Spec.Unschedulable || len(node.Status.Conditions) != 1 {
				t.Errorf("node = %+v, want the new spec and the stored status", node)
			}
		}},
		{"service update keeps the allocated cluster IP and node port", func(t *testing.T) {
			old := coreService(func(s *corev1.Service) {
				s.Spec.Type, s.Spec.ClusterIP, s.Spec.ClusterIPs = corev1.ServiceTypeNodePort, "10.96.0.10", []string{"10.96.0.10"}
				s.Spec.Ports[0].NodePort = 30080
			})
			r := coreResource(t, "services")
			r.Default(old)
			svc := coreService(func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort }) // as in the manifest
			r.Default(svc)
			r.PrepareForUpdate(svc, old)
			if svc.Spec.ClusterIP != "10.96.0.10" || svc.Spec.Ports[0].NodePort != 30080 {
				t.Errorf("spec = %+v, want clusterIP and nodePort carried over", svc.Spec)
			}
			if errs := r.ValidateUpdate(svc, old); len(errs) != 0 {
				t.Errorf("ValidateUpdate() = %v, want none", errs)
			}
		}},
		{"service cluster IP is immutable", func(t *testing.T) {
			old := coreService(func(s *corev1.Service) { s.Spec.ClusterIP = "10.96.0.10" })
			r := coreResource(t, "services")
			r.Default(old)
			svc := old.DeepCopy()
			svc.Spec.ClusterIP, svc.Spec.ClusterIPs = "10.96.0.11", []string{"10.96.0.11"}
			if errs := r.ValidateUpdate(svc, old); !coreHasError(errs, field.ErrorTypeInvalid, "spec.clusterIP") {
				t.Errorf("ValidateUpdate() = %v, want Invalid at spec.clusterIP", errs)
			}
		}},
		{"switching to ClusterIP releases node ports", func(t *testing.T) {
			old := coreService(func(s *corev1.Service) {
				s.Spec.Type = corev1.ServiceTypeNodePort
				s.Spec.Ports[0].NodePort = 30080
			})
			r := coreResource(t, "services")
			r.Default(old)
			svc := old.DeepCopy()
			svc.Spec.Type = corev1.ServiceTypeClusterIP
			r.PrepareForUpdate(svc, old)
			if errs := r.ValidateUpdate(svc, old); len(errs) != 0 || svc.Spec.Ports[0].NodePort != 0 {
				t.Errorf("nodePort = %d, errors %v; want 0 and none", svc.Spec.Ports[0].NodePort, errs)
			}
		}},
		{"immutable configmap keeps its data", func(t *testing.T) {
			old := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Immutable: ptrTo(true), Data: map[string]string{"k": "v"}}
			cm := old.DeepCopy()
			cm.Data["k"] = "w"
			if errs := coreResource(t, "configmaps").ValidateUpdate(cm, old); !coreHasError(errs, field.ErrorTypeForbidden, "data") {
				t.Errorf("ValidateUpdate() = %v, want Forbidden at data", errs)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.check)
	}
}

func TestPodQOSClass(t *testing.T) {
	cpuMem := func(cpu, mem string) corev1.ResourceList {
		return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}
	}
	tests := []struct {
		name      string
		resources corev1.ResourceRequirements
		want      corev1.PodQOSClass
	}{
		{"no requests or limits", corev1.ResourceRequirements{}, corev1.PodQOSBestEffort},
		{"requests only", corev1.ResourceRequirements{Requests: cpuMem("50m", "32Mi")}, corev1.PodQOSBurstable},
		{"limits only (requests default to them)", corev1.ResourceRequirements{Limits: cpuMem("1", "1Gi")}, corev1.PodQOSGuaranteed},
		{"requests below limits", corev1.ResourceRequirements{Requests: cpuMem("500m", "1Gi"), Limits: cpuMem("1", "1Gi")}, corev1.PodQOSBurstable},
		{"cpu limit only", corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}, corev1.PodQOSBurstable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := corePod(func(p *corev1.Pod) { p.Spec.Containers[0].Resources = tt.resources })
			r := coreResource(t, "pods")
			r.Default(pod)
			r.PrepareForCreate(pod)
			if pod.Status.QOSClass != tt.want {
				t.Errorf("qosClass = %q, want %q", pod.Status.QOSClass, tt.want)
			}
		})
	}
}

func TestCoreFields(t *testing.T) {
	pod := corePod(func(p *corev1.Pod) {
		p.Spec.NodeName = "node-a"
		p.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIPs: []corev1.PodIP{{IP: "10.244.0.5"}}}
	})
	coreResource(t, "pods").Default(pod)
	event := &corev1.Event{
		InvolvedObject:      corev1.ObjectReference{Kind: "Pod", Namespace: "demo", Name: "web", UID: "u1"},
		Reason:              "BackOff",
		Type:                corev1.EventTypeWarning,
		Source:              corev1.EventSource{Component: "kubelet"},
		ReportingController: "kubelet",
	}
	tests := []struct {
		resource string
		obj      runtime.Object
		want     map[string]string
	}{
		{"pods", pod, map[string]string{
			"spec.nodeName": "node-a", "status.phase": "Running", "status.podIP": "10.244.0.5",
			"spec.restartPolicy": "Always", "spec.schedulerName": "default-scheduler", "status.nominatedNodeName": "",
			"spec.serviceAccountName": "",
		}},
		{"events", event, map[string]string{
			"involvedObject.kind": "Pod", "involvedObject.name": "web", "involvedObject.namespace": "demo",
			"involvedObject.uid": "u1", "reason": "BackOff", "type": "Warning", "source": "kubelet", "reportingComponent": "kubelet",
		}},
		{"secrets", &corev1.Secret{Type: corev1.SecretTypeTLS}, map[string]string{"type": "kubernetes.io/tls"}},
		{"nodes", &corev1.Node{Spec: corev1.NodeSpec{Unschedulable: true}}, map[string]string{"spec.unschedulable": "true"}},
		{"namespaces", &corev1.Namespace{Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}}, map[string]string{"status.phase": "Terminating"}},
		{"services", coreService(func(s *corev1.Service) { s.Spec.ClusterIP = "None" }), map[string]string{"spec.clusterIP": "None"}},
	}
	for _, tt := range tests {
		t.Run(tt.resource, func(t *testing.T) {
			set := coreResource(t, tt.resource).Fields(tt.obj)
			for k, want := range tt.want {
				if got, ok := set[k]; !ok || got != want {
					t.Errorf("field %s = %q (present %v), want %q", k, got, ok, want)
				}
			}
			// The set must work with real field selectors, as the server
			// uses it.
			for k, v := range tt.want {
				if sel := fields.OneTermEqualSelector(k, v); !sel.Matches(set) {
					t.Errorf("selector %s does not match", sel)
				}
				if sel := fields.OneTermEqualSelector(k, v+"-other"); sel.Matches(set) {
					t.Errorf("selector %s matches", sel)
				}
			}
		})
	}
	t.Run("configmaps have no extra fields", func(t *testing.T) {
		if coreResource(t, "configmaps").Fields != nil {
			t.Error("configmaps.Fields is set, want nil")
		}
	})
}

func TestPodRow(t *testing.T) {
	now := metav1.NewTime(time.Now().Add(-5 * time.Hour))
	runningWeb := corev1.ContainerStatus{Name: "web", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
	tests := []struct {
		name        string
		pod         *corev1.Pod
		wantReady   string
		wantStatus  string
		wantRestart string
	}{
		{"pending", corePod(func(p *corev1.Pod) { p.Status.Phase = corev1.PodPending }), "0/1", "Pending", "0"},
		{"running", corePod(func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodRunning
			p.Status.ContainerStatuses = []corev1.ContainerStatus{runningWeb}
		}), "1/1", "Running", "0"},
		{"terminating", corePod(func(p *corev1.Pod) {
			p.DeletionTimestamp = &now
			p.Status.Phase = corev1.PodRunning
			p.Status.ContainerStatuses = []corev1.ContainerStatus{runningWeb}
		}), "1/1", "Terminating", "0"},
		{"crash loop", corePod(func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodRunning
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{
				Name: "web", RestartCount: 4,
				State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, FinishedAt: now}},
			}}
		}), "0/1", "CrashLoopBackOff", "4 (5h ago)"},
		{"completed", corePod(func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodSucceeded
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "web", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed"}}}}
		}), "0/1", "Completed", "0"},
		{"exit code without reason", corePod(func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodFailed
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "web", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 2}}}}
		}), "0/1", "ExitCode:2", "0"},
		{"waiting for init container", corePod(func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "migrate", Image: "busybox"}}
			p.Status.Phase = corev1.PodPending
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "migrate", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
		}), "0/1", "Init:0/1", "0"},
	}
	r := coreResource(t, "pods")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			row := r.Row(tt.pod)
			if row[0] != "web" || row[1] != tt.wantReady || row[2] != tt.wantStatus || row[3] != tt.wantRestart {
				t.Errorf("NAME READY STATUS RESTARTS = %v %v %v %v, want web %s %s %s", row[0], row[1], row[2], row[3], tt.wantReady, tt.wantStatus, tt.wantRestart)
			}
		})
	}
	t.Run("wide columns of an unscheduled pod", func(t *testing.T) {
		row := r.Row(corePod(nil))
		if row[4] != "<unknown>" || row[5] != "<none>" || row[6] != "<none>" || row[7] != "<none>" || row[8] != "<none>" {
			t.Errorf("AGE IP NODE NOMINATED GATES = %v, want <unknown> and <none>s", row[4:])
		}
	})
}

func TestServiceAndNodeRows(t *testing.T) {
	tests := []struct {
		name     string
		resource string
		obj      runtime.Object
		column   string
		want     any
	}{
		{"ClusterIP ports", "services", coreService(func(s *corev1.Service) {
			s.Spec.ClusterIP = "10.96.0.10"
			s.Spec.Ports[0].Protocol = corev1.ProtocolTCP
		}), "Port(s)", "80/TCP"},
		{"NodePort ports", "services", coreService(func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.Ports = []corev1.ServicePort{{Name: "http", Port: 80, NodePort: 30080, Protocol: corev1.ProtocolTCP}, {Name: "dns", Port: 53, NodePort: 30053, Protocol: corev1.ProtocolUDP}}
		}), "Port(s)", "80:30080/TCP,53:30053/UDP"},
		{"cluster IP", "services", coreService(func(s *corev1.Service) { s.Spec.ClusterIPs = []string{"10.96.0.10"} }), "Cluster-IP", "10.96.0.10"},
		{"pending load balancer", "services", coreService(func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeLoadBalancer }), "External-IP", "<pending>"},
		{"ClusterIP has no external IP", "services", coreService(func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeClusterIP }), "External-IP", "<none>"},
		{"selector", "services", coreService(nil), "Selector", "app=web"},
		{"ready node", "nodes", &corev1.Node{Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}, "Status", "Ready"},
		{"cordoned node", "nodes", &corev1.Node{
			Spec:   corev1.NodeSpec{Unschedulable: true},
			Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}},
		}, "Status", "Ready,SchedulingDisabled"},
		{"node not ready", "nodes", &corev1.Node{Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse}}}}, "Status", "NotReady"},
		{"node never reported", "nodes", &corev1.Node{}, "Status", "Unknown"},
		{"node roles", "nodes", &corev1.Node{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{
			"node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "db",
		}}}, "Roles", "control-plane,db"},
		{"node internal IP", "nodes", &corev1.Node{Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.168.1.5"}}}}, "Internal-IP", "192.168.1.5"},
		{"event object", "events", &corev1.Event{InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web"}}, "Object", "pod/web"},
		{"event count of 0 shows 1", "events", &corev1.Event{}, "Count", int64(1)},
		{"endpoints", "endpoints", &corev1.Endpoints{Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: "10.244.0.5"}, {IP: "10.244.0.6"}, {IP: "10.244.1.2"}, {IP: "10.244.1.3"}},
			Ports:     []corev1.EndpointPort{{Port: 8080}},
		}}}, "Endpoints", "10.244.0.5:8080,10.244.0.6:8080,10.244.1.2:8080 + 1 more..."},
		{"endpoints without subsets", "endpoints", &corev1.Endpoints{}, "Endpoints", "<none>"},
		{"configmap data count", "configmaps", &corev1.ConfigMap{Data: map[string]string{"a": "1"}, BinaryData: map[string][]byte{"b": nil}}, "Data", int64(2)},
		{"secret type", "secrets", &corev1.Secret{Type: corev1.SecretTypeOpaque}, "Type", "Opaque"},
		{"namespace status", "namespaces", &corev1.Namespace{Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}, "Status", "Active"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := coreResource(t, tt.resource)
			row := r.Row(tt.obj)
			for i, c := range r.Columns {
				if c.Name == tt.column {
					if row[i] != tt.want {
						t.Errorf("%s = %#v, want %#v", tt.column, row[i], tt.want)
					}
					return
				}
			}
			t.Fatalf("no column %q", tt.column)
		})
	}
}

func TestCoreColumns(t *testing.T) {
	tests := []struct {
		resource string
		columns  string // "Name" or "Name*" for -o wide only
	}{
		{"pods", "Name,Ready,Status,Restarts,Age,IP*,Node*,Nominated Node*,Readiness Gates*"},
		{"nodes", "Name,Status,Roles,Age,Version,Internal-IP*,External-IP*,OS-Image*,Kernel-Version*,Container-Runtime*"},
		{"services", "Name,Type,Cluster-IP,External-IP,Port(s),Age,Selector*"},
		{"namespaces", "Name,Status,Age"},
		{"events", "Last Seen,Type,Reason,Object,Subobject*,Source*,Message,First Seen*,Count*,Name*"},
		{"configmaps", "Name,Data,Age"},
		{"secrets", "Name,Type,Data,Age"},
		{"endpoints", "Name,Endpoints,Age"},
		{"serviceaccounts", "Name,Secrets,Age"},
	}
	for _, tt := range tests {
		t.Run(tt.resource, func(t *testing.T) {
			r := coreResource(t, tt.resource)
			var got []string
			for _, c := range r.Columns {
				name := c.Name
				if c.Priority == 1 {
					name += "*"
				}
				got = append(got, name)
				if c.Name == "Name" && c.Format != "name" {
					t.Errorf("Name column format = %q, want name", c.Format)
				}
				if c.Type != "string" {
					t.Errorf("column %s type = %q, want string as in kube", c.Name, c.Type)
				}
			}
			if strings.Join(got, ",") != tt.columns {
				t.Errorf("columns = %s, want %s", strings.Join(got, ","), tt.columns)
			}
		})
	}
}

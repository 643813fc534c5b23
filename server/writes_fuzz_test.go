package server_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"testing"
)

// validObjects are one valid manifest of each writable kind, by the path
// objects of it are created at. The writes fuzz test breaks them.
var validObjects = map[string]string{
	"/api/v1/namespaces/fz/pods": `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","labels":{"app":"a"}},
		"spec":{"nodeName":"n1","containers":[{"name":"c","image":"busybox","command":["sleep","1"],
		"ports":[{"containerPort":80,"name":"http"}],"env":[{"name":"A","value":"b"}],
		"resources":{"requests":{"cpu":"10m","memory":"16Mi"},"limits":{"memory":"32Mi"}},
		"volumeMounts":[{"name":"v","mountPath":"/v"}],"readinessProbe":{"httpGet":{"path":"/","port":80}}}],
		"volumes":[{"name":"v","emptyDir":{}}],"tolerations":[{"key":"k","operator":"Exists","effect":"NoSchedule"}],
		"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"k","operator":"In","values":["v"]}]}]}}}}}`,
	"/api/v1/namespaces/fz/services": `{"apiVersion":"v1","kind":"Service","metadata":{"name":"s"},
		"spec":{"type":"NodePort","selector":{"app":"a"},"ports":[{"name":"http","port":80,"targetPort":8080,"nodePort":30080}]}}`,
	"/api/v1/namespaces/fz/configmaps": `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm","annotations":{"a":"b"}},"data":{"k":"v"},"binaryData":{"b":"AAE="}}`,
	"/api/v1/namespaces/fz/secrets":    `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"sec"},"type":"Opaque","data":{"k":"dg=="},"stringData":{"s":"t"}}`,
	"/api/v1/namespaces/fz/endpoints": `{"apiVersion":"v1","kind":"Endpoints","metadata":{"name":"ep"},
		"subsets":[{"addresses":[{"ip":"10.0.0.1","nodeName":"n1"}],"ports":[{"name":"http","port":80}]}]}`,
	"/api/v1/namespaces/fz/events": `{"apiVersion":"v1","kind":"Event","metadata":{"name":"ev"},
		"involvedObject":{"kind":"Pod","name":"p","namespace":"fz"},"reason":"R","message":"m","type":"Normal","count":1,
		"firstTimestamp":"2026-01-01T00:00:00Z","lastTimestamp":"2026-01-01T00:00:00Z","source":{"component":"x"}}`,
	"/api/v1/namespaces/fz/serviceaccounts": `{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"sa"},"secrets":[{"name":"x"}]}`,
	"/api/v1/namespaces/fz/persistentvolumeclaims": `{"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":"pvc"},
		"spec":{"accessModes":["ReadWriteOnce"],"storageClassName":"local","resources":{"requests":{"storage":"1Gi"}},"selector":{"matchLabels":{"a":"b"}}}}`,
	"/api/v1/persistentvolumes": `{"apiVersion":"v1","kind":"PersistentVolume","metadata":{"name":"pv"},
		"spec":{"capacity":{"storage":"5Gi"},"accessModes":["ReadWriteOnce"],"hostPath":{"path":"/srv/pv"},"claimRef":{"namespace":"fz","name":"pvc"}}}`,
	"/api/v1/nodes": `{"apiVersion":"v1","kind":"Node","metadata":{"name":"n1","labels":{"kubernetes.io/hostname":"n1"}},
		"spec":{"podCIDR":"10.244.0.0/24","taints":[{"key":"k","value":"v","effect":"NoSchedule"}]},
		"status":{"capacity":{"cpu":"4","memory":"8Gi","pods":"110"},"addresses":[{"type":"InternalIP","address":"10.0.0.1"}]}}`,
	"/apis/apps/v1/namespaces/fz/deployments": `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},
		"spec":{"replicas":2,"selector":{"matchLabels":{"app":"a"}},"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":"25%","maxUnavailable":1}},
		"template":{"metadata":{"labels":{"app":"a"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}}}`,
	"/apis/apps/v1/namespaces/fz/replicasets": `{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"rs"},
		"spec":{"replicas":1,"selector":{"matchExpressions":[{"key":"app","operator":"In","values":["a"]}]},
		"template":{"metadata":{"labels":{"app":"a"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}}}`,
	"/apis/apps/v1/namespaces/fz/daemonsets": `{"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"ds"},
		"spec":{"selector":{"matchLabels":{"app":"a"}},"updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":"10%"}},
		"template":{"metadata":{"labels":{"app":"a"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}}}`,
	"/apis/apps/v1/namespaces/fz/statefulsets": `{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"st"},
		"spec":{"serviceName":"s","replicas":1,"selector":{"matchLabels":{"app":"a"}},
		"template":{"metadata":{"labels":{"app":"a"}},"spec":{"containers":[{"name":"c","image":"busybox","volumeMounts":[{"name":"data","mountPath":"/d"}]}]}},
		"volumeClaimTemplates":[{"metadata":{"name":"data"},"spec":{"accessModes":["ReadWriteOnce"],"resources":{"requests":{"storage":"1Gi"}}}}]}}`,
	"/apis/batch/v1/namespaces/fz/jobs": `{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"j"},
		"spec":{"completions":2,"parallelism":1,"backoffLimit":1,"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"busybox"}]}}}}`,
	"/apis/batch/v1/namespaces/fz/cronjobs": `{"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"cj"},
		"spec":{"schedule":"*/5 * * * *","timeZone":"Etc/UTC","startingDeadlineSeconds":30,"concurrencyPolicy":"Forbid",
		"jobTemplate":{"spec":{"template":{"spec":{"restartPolicy":"OnFailure","containers":[{"name":"c","image":"busybox"}]}}}}}}`,
	"/apis/policy/v1/namespaces/fz/poddisruptionbudgets": `{"apiVersion":"policy/v1","kind":"PodDisruptionBudget","metadata":{"name":"pdb"},
		"spec":{"minAvailable":"50%","selector":{"matchLabels":{"app":"a"}},"unhealthyPodEvictionPolicy":"AlwaysAllow"}}`,
	"/apis/coordination.k8s.io/v1/namespaces/fz/leases": `{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"l"},
		"spec":{"holderIdentity":"h","leaseDurationSeconds":15,"renewTime":"2026-01-01T00:00:00.000000Z","leaseTransitions":0}}`,
	"/apis/discovery.k8s.io/v1/namespaces/fz/endpointslices": `{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"es"},
		"addressType":"IPv4","endpoints":[{"addresses":["10.0.0.1"],"conditions":{"ready":true},"nodeName":"n1"}],"ports":[{"name":"http","port":80,"protocol":"TCP"}]}`,
}

// oddValues replace a field of a valid object: wrong types, empty and
// out-of-range values, and shapes a handler may not expect.
var oddValues = []any{
	nil, "", "x", "-1", "100%", "101%", "-5%", "0.5", "1Gi", "-1Gi", "1e400", "\x00",
	strings.Repeat("a", 300), float64(-1), float64(0), float64(1 << 40), 3.5, 1e300, true,
	map[string]any{}, []any{}, []any{map[string]any{}}, []any{nil}, map[string]any{"": nil},
}

// fresh returns a copy of an odd value, so that no two places of an
// object (or of two cases) share a map or a slice.
func fresh(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = fresh(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = fresh(e)
		}
		return l
	}
	return v
}

// paths returns the paths of every value in v, parents before children.
func paths(v any, prefix []any, out *[][]any) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := append(append([]any(nil), prefix...), k)
			*out = append(*out, p)
			paths(x[k], p, out)
		}
	case []any:
		for i := range x {
			p := append(append([]any(nil), prefix...), i)
			*out = append(*out, p)
			paths(x[i], p, out)
		}
	}
}

// set replaces the value at path p in v.
func set(v any, p []any, val any) {
	for i, step := range p {
		last := i == len(p)-1
		switch x := v.(type) {
		case map[string]any:
			if last {
				x[step.(string)] = val
				return
			}
			v = x[step.(string)]
		case []any:
			if last {
				x[step.(int)] = val
				return
			}
			v = x[step.(int)]
		default:
			return
		}
	}
}

// mutate breaks a valid object: each pair of bytes of ops picks a path
// and an odd value for it (or, for the top byte's high bit, deletes it
// by setting null). The object's name is kept where it is, so that
// writes name one object.
func mutate(manifest string, ops []byte) ([]byte, error) {
	var obj any
	if err := json.Unmarshal([]byte(manifest), &obj); err != nil {
		return nil, fmt.Errorf("seed manifest: %w", err)
	}
	for i := 0; i+1 < len(ops) && i < 16; i += 2 {
		var all [][]any
		paths(obj, nil, &all)
		if len(all) == 0 {
			break
		}
		p := all[int(ops[i])%len(all)]
		if len(p) == 2 && p[0] == "metadata" && p[1] == "name" {
			continue
		}
		set(obj, p, fresh(oddValues[int(ops[i+1])%len(oddValues)]))
	}
	return json.Marshal(obj)
}

// FuzzWrites sends broken versions of valid objects of every kind as a
// create, as an update of the valid object and as a merge patch of it.
// Whatever the body, the server must answer with a success or a client
// error carrying a Status, never a 5xx (a panic or an error it did not
// expect), and a rejected write must leave the object as it was.
func FuzzWrites(f *testing.F) {
	targets := make([]string, 0, len(validObjects))
	for path := range validObjects {
		targets = append(targets, path)
	}
	sort.Strings(targets)
	rng := rand.New(rand.NewPCG(4, 2))
	for range 200 {
		ops := make([]byte, 2*(1+rng.IntN(3)))
		for i := range ops {
			ops[i] = byte(rng.UintN(256))
		}
		f.Add(uint8(rng.UintN(uint(len(targets)))), ops)
	}

	ts := start(f, "")
	if code, body := ts.raw(f, "POST", "/api/v1/namespaces", "application/json",
		[]byte(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"fz"}}`), ""); code != http.StatusCreated {
		f.Fatalf("create namespace fz: %d %s", code, body)
	}
	f.Fuzz(func(t *testing.T, target uint8, ops []byte) {
		checkBrokenWrites(t, ts, targets[int(target)%len(targets)], ops)
	})
}

// checkBrokenWrites is one case of FuzzWrites: the valid object created at
// path, broken by ops.
func checkBrokenWrites(t *testing.T, ts *testServer, path string, ops []byte) {
	valid := validObjects[path]
	body, err := mutate(valid, ops)
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		Metadata struct{ Name string } `json:"metadata"`
	}
	if err := json.Unmarshal([]byte(valid), &meta); err != nil {
		t.Fatal(err)
	}
	item := path + "/" + meta.Metadata.Name

	answer := func(what, method, url, contentType string, body []byte) int {
		code, resp := ts.raw(t, method, url, contentType, body, "")
		if code >= 500 || (code >= 400 && !strings.Contains(string(resp), `"kind":"Status"`)) {
			t.Fatalf("%s %s: %d %.400s\nbody: %s", what, url, code, resp, body)
		}
		return code
	}
	get := func() string {
		code, resp := ts.raw(t, "GET", item, "", nil, "")
		if code != http.StatusOK {
			t.Fatalf("get %s: %d %.300s", item, code, resp)
		}
		return string(resp)
	}

	// A create of the broken object; whatever was created goes again.
	if code := answer("create", "POST", path, "application/json", body); code < 300 {
		answer("delete the created object", "DELETE", item+"?gracePeriodSeconds=0", "", nil)
	}
	answer("delete", "DELETE", item+"?gracePeriodSeconds=0", "", nil)

	// An update and a merge patch of the valid object.
	if code := answer("create the valid object", "POST", path, "application/json", []byte(valid)); code >= 300 {
		t.Fatalf("create the valid object at %s: %d", path, code)
	}
	before := get()
	if code := answer("update", "PUT", item, "application/json", body); code >= 400 && get() != before {
		t.Fatalf("a rejected update (%d) changed %s", code, item)
	}
	before = get()
	if code := answer("merge patch", "PATCH", item, "application/merge-patch+json", body); code >= 400 && get() != before {
		t.Fatalf("a rejected merge patch (%d) changed %s", code, item)
	}
	answer("clean up", "DELETE", item+"?gracePeriodSeconds=0", "", nil)
}

package server

import "testing"

func TestParseResourcePath(t *testing.T) {
	for _, tc := range []struct {
		path string
		want requestInfo
		ok   bool
	}{
		{"/api/v1/namespaces", requestInfo{version: "v1", resource: "namespaces"}, true},
		{"/api/v1/namespaces/demo", requestInfo{version: "v1", resource: "namespaces", name: "demo"}, true},
		{"/api/v1/namespaces/demo/status", requestInfo{version: "v1", resource: "namespaces", name: "demo", subresource: "status"}, true},
		{"/api/v1/namespaces/demo/configmaps", requestInfo{version: "v1", namespace: "demo", resource: "configmaps", namespaceScopedRequest: true}, true},
		{"/api/v1/namespaces/demo/pods/p1/log", requestInfo{version: "v1", namespace: "demo", resource: "pods", name: "p1", subresource: "log", namespaceScopedRequest: true}, true},
		{"/apis/apps/v1/deployments", requestInfo{group: "apps", version: "v1", resource: "deployments"}, true},
		{"/apis/apps/v1/namespaces/demo/deployments/web/scale", requestInfo{group: "apps", version: "v1", namespace: "demo", resource: "deployments", name: "web", subresource: "scale", namespaceScopedRequest: true}, true},
		{"/api/v1/nodes/n1", requestInfo{version: "v1", resource: "nodes", name: "n1"}, true},
		{"/api", requestInfo{}, false},
		{"/apis/apps", requestInfo{}, false},
		{"/api/v1/namespaces/a/pods/b/c/d", requestInfo{}, false},
	} {
		t.Run(tc.path, func(t *testing.T) {
			got, ok := parseResourcePath(tc.path)
			if ok != tc.ok || (ok && got != tc.want) {
				t.Fatalf("got %+v %v, want %+v %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

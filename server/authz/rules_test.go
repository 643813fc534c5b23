package authz

import (
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
)

func res(verb, group, resource, sub, ns, name string) Attributes {
	return Attributes{Verb: verb, ResourceRequest: true, APIGroup: group, Resource: resource, Subresource: sub, Namespace: ns, Name: name}
}

func path(verb, p string) Attributes {
	return Attributes{Verb: verb, Path: p}
}

func TestRuleAllows(t *testing.T) {
	tests := []struct {
		name string
		rule rbacv1.PolicyRule
		a    Attributes
		want bool
	}{
		{"exact", rule("get").groups("").resources("pods").build(), res("get", "", "pods", "", "a", "p"), true},
		{"other verb", rule("get").groups("").resources("pods").build(), res("delete", "", "pods", "", "a", "p"), false},
		{"other group", rule("get").groups("apps").resources("pods").build(), res("get", "", "pods", "", "a", "p"), false},
		{"other resource", rule("get").groups("").resources("pods").build(), res("get", "", "secrets", "", "a", "s"), false},
		{"verb wildcard", rule("*").groups("").resources("pods").build(), res("deletecollection", "", "pods", "", "a", ""), true},
		{"group wildcard", rule("get").groups("*").resources("deployments").build(), res("get", "apps", "deployments", "", "a", "d"), true},
		{"resource wildcard", rule("get").groups("").resources("*").build(), res("get", "", "secrets", "", "a", "s"), true},
		{"resource wildcard covers subresources", rule("get").groups("").resources("*").build(), res("get", "", "pods", "log", "a", "p"), true},
		{"resource does not cover its subresource", rule("get").groups("").resources("pods").build(), res("get", "", "pods", "log", "a", "p"), false},
		{"subresource exact", rule("get").groups("").resources("pods/log").build(), res("get", "", "pods", "log", "a", "p"), true},
		{"subresource does not cover the resource", rule("get").groups("").resources("pods/log").build(), res("get", "", "pods", "", "a", "p"), false},
		{"*/subresource", rule("update").groups("*").resources("*/status").build(), res("update", "apps", "deployments", "status", "a", "d"), true},
		{"*/subresource other subresource", rule("update").groups("*").resources("*/status").build(), res("update", "apps", "deployments", "scale", "a", "d"), false},
		{"*/subresource not the resource", rule("update").groups("*").resources("*/status").build(), res("update", "apps", "deployments", "", "a", "d"), false},
		// As upstream: "resource/*" is not a wildcard.
		{"resource/* is literal", rule("get").groups("").resources("pods/*").build(), res("get", "", "pods", "log", "a", "p"), false},
		{"resourceNames match", rule("get").groups("").resources("configmaps").names("x").build(), res("get", "", "configmaps", "", "a", "x"), true},
		{"resourceNames other name", rule("get").groups("").resources("configmaps").names("x").build(), res("get", "", "configmaps", "", "a", "y"), false},
		{"resourceNames never list", rule("list").groups("").resources("configmaps").names("x").build(), res("list", "", "configmaps", "", "a", ""), false},
		{"resourceNames never create", rule("create").groups("").resources("configmaps").names("x").build(), res("create", "", "configmaps", "", "a", ""), false},
		{"resourceNames never deletecollection", rule("deletecollection").groups("").resources("configmaps").names("x").build(), res("deletecollection", "", "configmaps", "", "a", ""), false},
		{"resourceNames single-object watch", rule("watch").groups("").resources("configmaps").names("x").build(), res("watch", "", "configmaps", "", "a", "x"), true},
		{"url exact", rule("get").urls("/version").build(), path("get", "/version"), true},
		{"url exact other", rule("get").urls("/version").build(), path("get", "/version/x"), false},
		{"url prefix", rule("get").urls("/apis/*").build(), path("get", "/apis/apps/v1"), true},
		{"url prefix not the bare path", rule("get").urls("/apis/*").build(), path("get", "/apis"), false},
		{"url prefix other", rule("get").urls("/apis/*").build(), path("get", "/api/v1"), false},
		{"url wildcard", rule("*").urls("*").build(), path("post", "/anything"), true},
		{"url other verb", rule("get").urls("/healthz").build(), path("post", "/healthz"), false},
		{"resource rule never matches a path", rule("get").groups("*").resources("*").build(), path("get", "/healthz"), false},
		{"url rule never matches a resource", rule("get").urls("*").build(), res("get", "", "pods", "", "a", "p"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RuleAllows(tt.a, &tt.rule); got != tt.want {
				t.Errorf("RuleAllows(%+v, %+v) = %v, want %v", tt.a, tt.rule, got, tt.want)
			}
		})
	}
}

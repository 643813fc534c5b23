package server

import (
	"encoding/json"
	"mime"
	"net/http"
	"sort"
	"strings"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sqlkube/sqlkube/server/registry"
)

// Aggregated discovery (apidiscovery.k8s.io/v2): one document for /api
// and one for /apis listing every group, version and resource, so that
// kubectl 1.32 learns the whole API in two requests. Clients ask for it in
// Accept and fall back to the per-group documents when the answer is
// plain JSON.
const aggregatedContentType = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

func wantsAggregated(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		_, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err == nil && params["as"] == "APIGroupDiscoveryList" && params["g"] == "apidiscovery.k8s.io" && params["v"] == "v2" {
			return true
		}
	}
	return false
}

// serveAggregated answers /api (the core group) or /apis (the others).
func (s *Server) serveAggregated(w http.ResponseWriter, legacy bool) {
	list := apidiscoveryv2.APIGroupDiscoveryList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupDiscoveryList", APIVersion: "apidiscovery.k8s.io/v2"}}
	gv := s.groupVersions()
	var groups []string
	for g := range gv {
		if (g == "") == legacy {
			groups = append(groups, g)
		}
	}
	sort.Strings(groups)
	for _, g := range groups {
		d := apidiscoveryv2.APIGroupDiscovery{ObjectMeta: metav1.ObjectMeta{Name: g}}
		var versions []string
		for v := range gv[g] {
			versions = append(versions, v)
		}
		sort.Strings(versions)
		for _, v := range versions {
			d.Versions = append(d.Versions, apidiscoveryv2.APIVersionDiscovery{
				Version: v, Resources: aggregatedResources(gv[g][v]), Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent,
			})
		}
		list.Items = append(list.Items, d)
	}
	w.Header().Set("Content-Type", aggregatedContentType)
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(&list)
}

func aggregatedResources(rs []*registry.Resource) []apidiscoveryv2.APIResourceDiscovery {
	var out []apidiscoveryv2.APIResourceDiscovery
	for _, e := range apiResources(rs) {
		if strings.Contains(e.Name, "/") {
			continue // subresources go under their resource below
		}
		scope := apidiscoveryv2.ScopeCluster
		if e.Namespaced {
			scope = apidiscoveryv2.ScopeNamespace
		}
		gv := rs[0].GroupVersion()
		d := apidiscoveryv2.APIResourceDiscovery{
			Resource: e.Name, Scope: scope, SingularResource: e.SingularName, Verbs: e.Verbs,
			ShortNames: e.ShortNames, Categories: e.Categories,
			ResponseKind: &metav1.GroupVersionKind{Group: gv.Group, Version: gv.Version, Kind: e.Kind},
		}
		for _, sub := range apiResources(rs) {
			name, subres, ok := strings.Cut(sub.Name, "/")
			if !ok || name != e.Name {
				continue
			}
			k := &metav1.GroupVersionKind{Group: gv.Group, Version: gv.Version, Kind: sub.Kind}
			if sub.Group != "" {
				k.Group, k.Version = sub.Group, sub.Version
			}
			d.Subresources = append(d.Subresources, apidiscoveryv2.APISubresourceDiscovery{Subresource: subres, ResponseKind: k, Verbs: sub.Verbs})
		}
		out = append(out, d)
	}
	return out
}

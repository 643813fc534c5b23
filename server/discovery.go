package server

import (
	"net/http"
	"runtime"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/version"

	"github.com/sqlkube/sqlkube/server/registry"
)

// kubeVersion is the Kubernetes API version sqlkube serves; kubectl warns
// when it is more than one minor version away from its own.
const (
	kubeMajor = "1"
	kubeMinor = "32"
)

func (s *Server) versionInfo() version.Info {
	return version.Info{
		Major:      kubeMajor,
		Minor:      kubeMinor,
		GitVersion: gitVersion(s.cfg.Version),
		GoVersion:  runtime.Version(),
		Compiler:   runtime.Compiler,
		Platform:   runtime.GOOS + "/" + runtime.GOARCH,
	}
}

// gitVersion is the version /version reports: the Kubernetes version with
// sqlkube's in the semver build metadata, as k3s does ("v1.32.0+k3s1").
// A pre-release ("v1.32.0-sqlkube") would fail every chart's kubeVersion
// constraint such as ">=1.23.0", since semver ranges exclude pre-releases.
func gitVersion(sqlkube string) string {
	meta := strings.Map(func(r rune) rune {
		switch {
		case r >= '0' && r <= '9', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '-', r == '.':
			return r
		}
		return '-'
	}, sqlkube)
	meta = strings.Trim(strings.ReplaceAll(meta, "..", "."), ".")
	if meta == "" {
		meta = "dev"
	}
	return "v" + kubeMajor + "." + kubeMinor + ".0+sqlkube." + meta
}

// apiResources returns the discovery entries of one group version.
func apiResources(rs []*registry.Resource) []metav1.APIResource {
	var out []metav1.APIResource
	for _, r := range rs {
		verbs := metav1.Verbs{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
		if r.Verbs != nil {
			verbs = r.Verbs
		}
		out = append(out, metav1.APIResource{
			Name:         r.Resource,
			SingularName: strings.ToLower(r.Kind),
			Namespaced:   r.Namespaced,
			Kind:         r.Kind,
			Verbs:        verbs,
			ShortNames:   r.ShortNames,
			Categories:   r.Categories,
		})
		for _, sub := range r.Subresources {
			e := metav1.APIResource{Name: r.Resource + "/" + sub, Namespaced: r.Namespaced, Kind: r.Kind}
			switch sub {
			case "status":
				e.Verbs = metav1.Verbs{"get", "patch", "update"}
			case "scale":
				e.Group, e.Version, e.Kind = "autoscaling", "v1", "Scale"
				e.Verbs = metav1.Verbs{"get", "patch", "update"}
			case "binding":
				e.Kind, e.Verbs = "Binding", metav1.Verbs{"create"}
			case "eviction":
				// kubectl drain evicts only when discovery names the
				// group and version of Eviction here.
				e.Group, e.Version, e.Kind = "policy", "v1", "Eviction"
				e.Verbs = metav1.Verbs{"create"}
			case "token":
				e.Group, e.Version, e.Kind = "authentication.k8s.io", "v1", "TokenRequest"
				e.Verbs = metav1.Verbs{"create"}
			case "log":
				e.Kind, e.Verbs = "Pod", metav1.Verbs{"get"}
			case "exec":
				e.Kind, e.Verbs = "PodExecOptions", metav1.Verbs{"create", "get"}
			case "attach":
				e.Kind, e.Verbs = "PodAttachOptions", metav1.Verbs{"create", "get"}
			case "portforward":
				e.Kind, e.Verbs = "PodPortForwardOptions", metav1.Verbs{"create", "get"}
			}
			out = append(out, e)
		}
	}
	return out
}

// groupVersions returns the served group versions by group, the core
// group ("") included.
func (s *Server) groupVersions() map[string]map[string][]*registry.Resource {
	gv := map[string]map[string][]*registry.Resource{}
	for _, r := range s.reg.Resources() {
		if gv[r.Group] == nil {
			gv[r.Group] = map[string][]*registry.Resource{}
		}
		gv[r.Group][r.Version] = append(gv[r.Group][r.Version], r)
	}
	return gv
}

func (s *Server) apiGroups() []metav1.APIGroup {
	var groups []metav1.APIGroup
	for g, versions := range s.groupVersions() {
		if g == "" {
			continue
		}
		ag := metav1.APIGroup{Name: g}
		var vs []string
		for v := range versions {
			vs = append(vs, v)
		}
		sort.Strings(vs)
		for _, v := range vs {
			ag.Versions = append(ag.Versions, metav1.GroupVersionForDiscovery{GroupVersion: g + "/" + v, Version: v})
		}
		ag.PreferredVersion = ag.Versions[0]
		groups = append(groups, ag)
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i].Name < groups[j].Name })
	return groups
}

// serveDiscovery answers the discovery documents; ok is false when path
// is not one.
func (s *Server) serveDiscovery(w http.ResponseWriter, r *http.Request) bool {
	path := r.URL.Path
	if (path == "/api" || path == "/apis") && wantsAggregated(r) {
		s.serveAggregated(w, path == "/api")
		return true
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	gv := s.groupVersions()
	switch {
	case len(parts) == 1 && parts[0] == "api":
		writeJSON(w, http.StatusOK, &metav1.APIVersions{
			TypeMeta: metav1.TypeMeta{Kind: "APIVersions"},
			Versions: []string{"v1"},
			ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{
				{ClientCIDR: "0.0.0.0/0", ServerAddress: s.cfg.BindAddress},
			},
		})
	case len(parts) == 2 && parts[0] == "api" && gv[""][parts[1]] != nil:
		writeJSON(w, http.StatusOK, &metav1.APIResourceList{
			TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: parts[1],
			APIResources: apiResources(gv[""][parts[1]]),
		})
	case len(parts) == 1 && parts[0] == "apis":
		writeJSON(w, http.StatusOK, &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}, Groups: s.apiGroups()})
	case len(parts) == 2 && parts[0] == "apis" && gv[parts[1]] != nil:
		for _, g := range s.apiGroups() {
			if g.Name == parts[1] {
				g.TypeMeta = metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}
				writeJSON(w, http.StatusOK, &g)
			}
		}
	case len(parts) == 3 && parts[0] == "apis" && gv[parts[1]][parts[2]] != nil:
		writeJSON(w, http.StatusOK, &metav1.APIResourceList{
			TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: parts[1] + "/" + parts[2],
			APIResources: apiResources(gv[parts[1]][parts[2]]),
		})
	default:
		return false
	}
	return true
}

package server

import (
	"strings"
)

// requestInfo is what a resource path names, parsed like kube-apiserver's
// RequestInfoFactory: /api/v1/[namespaces/NS/]RESOURCE[/NAME[/SUB]] and
// /apis/GROUP/VERSION/[namespaces/NS/]RESOURCE[/NAME[/SUB]].
type requestInfo struct {
	group, version         string
	namespace, resource    string
	name, subresource      string
	namespaceScopedRequest bool // the path had namespaces/NS/ before the resource
}

// parseResourcePath parses p (without query). ok is false for paths that
// are not resource paths (discovery documents, unknown prefixes).
func parseResourcePath(p string) (requestInfo, bool) {
	parts := strings.Split(strings.Trim(p, "/"), "/")
	var ri requestInfo
	switch {
	case len(parts) >= 3 && parts[0] == "api":
		ri.version, parts = parts[1], parts[2:]
	case len(parts) >= 4 && parts[0] == "apis":
		ri.group, ri.version, parts = parts[1], parts[2], parts[3:]
	default:
		return ri, false
	}
	// namespaces/NS/RESOURCE... is a namespaced request; namespaces,
	// namespaces/NS and namespaces/NS/status|finalize are the namespace
	// resource itself.
	if parts[0] == "namespaces" && len(parts) >= 3 && parts[2] != "status" && parts[2] != "finalize" {
		ri.namespace, ri.namespaceScopedRequest, parts = parts[1], true, parts[2:]
	}
	ri.resource = parts[0]
	if len(parts) > 1 {
		ri.name = parts[1]
	}
	if len(parts) > 2 {
		ri.subresource = parts[2]
	}
	if len(parts) > 3 || ri.resource == "" || (len(parts) > 1 && ri.name == "") {
		return ri, false
	}
	return ri, true
}

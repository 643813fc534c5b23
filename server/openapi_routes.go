package server

import (
	"net/http"
	"reflect"
	"strings"

	"github.com/sqlkube/sqlkube/server/openapi"
	"github.com/sqlkube/sqlkube/server/registry"
)

// buildOpenAPI renders the OpenAPI documents of the served resources.
func buildOpenAPI(reg *registry.Registry) (*openapi.Documents, error) {
	var rs []openapi.Resource
	for _, r := range reg.Resources() {
		o := openapi.Resource{
			Group: r.Group, Version: r.Version, Resource: r.Resource, Kind: r.Kind, Namespaced: r.Namespaced,
			Type: reflect.TypeOf(r.New()), Subresources: r.Subresources, CreateOnly: !r.Stored(),
		}
		if r.NewList != nil {
			o.ListType = reflect.TypeOf(r.NewList())
		}
		rs = append(rs, o)
	}
	return openapi.Build(rs)
}

// serveOpenAPI answers the OpenAPI documents; an unknown one is a 404
// Status.
func (s *Server) serveOpenAPI(w http.ResponseWriter, r *http.Request) bool {
	if s.openapi.Serve(w, r) {
		return true
	}
	if strings.HasPrefix(r.URL.Path, "/openapi/") {
		writeStatus(w, notFoundPath())
		return true
	}
	return false
}

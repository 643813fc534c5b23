package server

import (
	"mime"
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
		rs = append(rs, openapi.Resource{
			Group: r.Group, Version: r.Version, Resource: r.Resource, Kind: r.Kind, Namespaced: r.Namespaced,
			Type: reflect.TypeOf(r.New()), ListType: reflect.TypeOf(r.NewList()), Subresources: r.Subresources,
		})
	}
	return openapi.Build(rs)
}

// serveOpenAPI answers /openapi/v2 (JSON, or protobuf when asked: kubectl
// validates Lists on the client with it) and /openapi/v3[/PATH].
func (s *Server) serveOpenAPI(w http.ResponseWriter, r *http.Request) bool {
	p := r.URL.Path
	switch {
	case p == "/openapi/v2":
		for _, a := range strings.Split(r.Header.Get("Accept"), ",") {
			mt, _, _ := mime.ParseMediaType(strings.TrimSpace(strings.Replace(a, "@", "-at-", 1)))
			mt = strings.Replace(mt, "-at-", "@", 1)
			if mt == openapi.ContentTypeV2Protobuf || mt == openapi.ContentTypeV2ProtobufDeprecated {
				w.Header().Set("Content-Type", openapi.ContentTypeV2Protobuf)
				_, _ = w.Write(s.openapi.V2Proto())
				return true
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(s.openapi.V2())
	case p == "/openapi/v3":
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(s.openapi.V3Index())
	case strings.HasPrefix(p, "/openapi/v3/"):
		doc, hash, ok := s.openapi.V3(strings.TrimPrefix(p, "/openapi/v3/"))
		if !ok {
			writeStatus(w, notFoundPath())
			return true
		}
		if h := r.URL.Query().Get("hash"); h != "" && h == hash {
			// Addressed by its hash: it never changes for this binary.
			w.Header().Set("Cache-Control", "public, immutable")
		}
		w.Header().Set("Etag", `"`+hash+`"`)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
	default:
		return false
	}
	return true
}

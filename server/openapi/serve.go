package openapi

import (
	"net/http"
	"strings"
)

// Serve answers r when it asks for /openapi/v2, /openapi/v3 or a v3
// group-version document, and reports whether it did; unknown documents
// are left to the caller (which answers them in its own error format).
// v2 is protobuf when Accept names it (kubectl asks so for its
// client-side validation of Lists), JSON otherwise.
func (d *Documents) Serve(w http.ResponseWriter, r *http.Request) bool {
	p := r.URL.Path
	switch {
	case p == "/openapi/v2":
		if accept := r.Header.Get("Accept"); strings.Contains(accept, ContentTypeV2Protobuf) || strings.Contains(accept, ContentTypeV2ProtobufDeprecated) {
			w.Header().Set("Content-Type", ContentTypeV2Protobuf)
			_, _ = w.Write(d.V2Proto())
			return true
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(d.V2())
	case p == "/openapi/v3":
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(d.V3Index())
	case strings.HasPrefix(p, "/openapi/v3/"):
		doc, hash, ok := d.V3(strings.TrimPrefix(p, "/openapi/v3/"))
		if !ok {
			return false
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

package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/pprof"
	"runtime/debug"
	"strings"

	"github.com/labstack/echo/v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func (s *Server) routes() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Use(s.recoverPanics)
	// Health and version are public, as in Kubernetes
	// (system:public-info-viewer).
	health := func(c echo.Context) error {
		if !s.ready.Load() {
			return c.String(http.StatusServiceUnavailable, "not ready")
		}
		return c.String(http.StatusOK, "ok")
	}
	e.GET("/healthz", health)
	e.GET("/livez", func(c echo.Context) error { return c.String(http.StatusOK, "ok") })
	e.GET("/readyz", func(c echo.Context) error {
		if !s.ready.Load() {
			return c.String(http.StatusServiceUnavailable, "not ready")
		}
		if _, err := s.store.CurrentRevision(c.Request().Context()); err != nil {
			return c.String(http.StatusServiceUnavailable, "datastore unreachable")
		}
		return c.String(http.StatusOK, "ok")
	})
	e.GET("/version", func(c echo.Context) error { return c.JSON(http.StatusOK, s.versionInfo()) })
	s.nodeJoinRoutes(e)
	e.Any("/*", s.serveAPI)
	return e
}

// recoverPanics answers a handler's panic with 500 and logs it; the
// server never dies of a request.
func (s *Server) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("handler panicked", "method", c.Request().Method, "path", c.Request().URL.Path, "panic", p, "stack", string(debug.Stack()))
				writeStatus(c.Response(), apierrors.NewInternalError(fmt.Errorf("internal error")))
				err = nil
			}
		}()
		return next(c)
	}
}

// serveAPI authenticates the request, takes on the user it impersonates,
// and serves a resource, or, as authorized, discovery, OpenAPI, metrics
// or profiles.
func (s *Server) serveAPI(c echo.Context) error {
	r, w := c.Request(), c.Response()
	u, loopback, ok := s.users.authenticate(r)
	if !ok {
		writeStatus(w, apierrors.NewUnauthorized("Unauthorized"))
		return nil
	}
	u, err := s.impersonate(r.Context(), r, u)
	if err != nil {
		writeStatus(w, err)
		return nil
	}
	if _, isResource := parseResourcePath(r.URL.Path); isResource {
		s.serveResource(w, r, u, loopback)
		return nil
	}
	if err := s.authorize(r.Context(), nonResourceAttributes(u, r)); err != nil {
		writeStatus(w, err)
		return nil
	}
	switch {
	case r.Method == http.MethodGet && (s.serveDiscovery(w, r) || s.serveOpenAPI(w, r)):
	case strings.HasPrefix(r.URL.Path, "/debug/pprof/"):
		// Profiling, like kube-apiserver's --profiling.
		switch strings.TrimPrefix(r.URL.Path, "/debug/pprof/") {
		case "profile":
			pprof.Profile(w, r)
		case "trace":
			pprof.Trace(w, r)
		default:
			pprof.Index(w, r)
		}
	case r.URL.Path == "/metrics" && r.Method == http.MethodGet:
		s.metrics.handler().ServeHTTP(w, r)
	default:
		writeStatus(w, notFoundPath())
	}
	return nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func notFoundPath() error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusNotFound, Reason: metav1.StatusReasonNotFound,
		Message: "the server could not find the requested resource",
	}}
}

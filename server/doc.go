// Package server is the Kubernetes API server of sqlkube: the REST API of
// k8s.io/api's types over the SQL store, so that the real kubectl and
// client-go work unchanged.
//
// A request is authenticated (bearer tokens: the admin token from the data
// directory or --token, a kube-style static token file, and
// service-account tokens, the JWTs of serviceaccounts/NAME/token and of
// token Secrets, signed with the cluster's key; satoken.go), authorized
// (system:masters may do anything, sqlkube:read-only may read), then served
// as discovery, OpenAPI (package openapi) or a resource verb. Resource
// verbs apply the generic object rules (objects.go) around each resource's
// strategy (package registry) and store objects as JSON through package
// storage, whose revision is the resourceVersion. Errors are metav1.Status
// values with kube-apiserver's codes and reasons (status.go).
//
// New prepares a Server over an opened cluster (package cluster: the store
// and the identity, which the caller opens, compacts and closes): its
// serving certificate, issued by the cluster's CA, and the bootstrap
// objects. Run serves it over HTTPS until its context ends. A Server is
// safe for concurrent use.
package server

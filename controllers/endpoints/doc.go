// Package endpoints keeps the Endpoints object and the EndpointSlices of
// every Service that has a selector, listing the pods the selector matches
// that have an IP.
//
// One Controller does both, with one sync per Service key
// ("namespace/name"): it computes the addresses once and writes the
// Endpoints object (ready addresses, notReadyAddresses, subsets grouped by
// resolved ports) and the EndpointSlices (IPv4, at most 100 endpoints each,
// conditions ready/serving/terminating, labelled kubernetes.io/service-name
// and managed by endpointslice-controller.k8s.io, owned by the Service).
// Nothing is written when the computed state equals the cached one, so pod
// churn that does not change an address costs no API write.
//
// Services without a selector are left alone: their Endpoints belong to
// whoever wrote them (the API server keeps default/kubernetes). Terminating
// pods are left out of Endpoints and appear in slices as ready=false,
// terminating=true.
//
// The controller reads Services, Pods, Endpoints and EndpointSlices from
// the shared informer factory and is safe to run with several workers: a
// Service key is never synced by two workers at once.
package endpoints

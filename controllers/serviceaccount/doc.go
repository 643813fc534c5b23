// Package serviceaccount keeps a ServiceAccount named "default" and the
// ConfigMap kube-root-ca.crt (the cluster CA, for pods to verify the API
// server) in every active namespace, creating them when a namespace
// appears and again when someone deletes them, and putting the CA back in
// a ConfigMap that was changed: Kubernetes' serviceaccount and
// root-ca-cert-publisher controllers. Namespaces being deleted are left
// alone.
//
// Controller reads Namespaces, ServiceAccounts and ConfigMaps from the
// shared informer factory; its sync takes a namespace name and is safe to run concurrently
// for different names.
package serviceaccount

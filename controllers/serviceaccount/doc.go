// Package serviceaccount keeps a ServiceAccount named "default" in every
// active namespace, creating it when a namespace appears and again when
// someone deletes it. Namespaces being deleted are left alone.
//
// Controller reads Namespaces and ServiceAccounts from the shared informer
// factory; its sync takes a namespace name and is safe to run concurrently
// for different names.
package serviceaccount

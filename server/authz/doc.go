// Package authz decides whether a request may be made: Kubernetes' RBAC
// authorizer, the Node authorizer, and Kubernetes' bootstrap policy (the
// default ClusterRoles and bindings) as Go values.
//
// It owns the decision and nothing else: it reads roles and bindings
// through a Source and pods and claims through a NodeGraph, both of which
// the caller provides (the API server backs them with its object cache),
// and it neither stores objects nor runs controllers. The server chains
// the authorizers (Node, then RBAC), runs Aggregate as the ClusterRole
// aggregation controller, writes BootstrapPolicy at start-up, and calls
// the escalation checks (AuthorizeRoleWrite, AuthorizeBindingWrite) when
// Roles, ClusterRoles and their bindings are written.
//
// The main types:
//
//   - Attributes: one request (user, verb, resource or non-resource path),
//     as kube-apiserver's authorizer.Attributes.
//   - RBAC: an Authorizer and RuleResolver over a Source; the semantics are
//     upstream's (plugin/pkg/auth/authorizer/rbac).
//   - Node: an Authorizer for users system:node:NAME in group system:nodes,
//     limiting secrets, configmaps, claims, volumes and service account
//     tokens to what the pods bound to the node use.
//   - Policy: the bootstrap ClusterRoles, ClusterRoleBindings, Roles and
//     RoleBindings; Policy.Source makes it authorizable on its own.
//
// A Decision of DecisionNoOpinion means "not allowed by this authorizer":
// RBAC never denies, it only allows or has no opinion, so a chain of
// authorizers ends in a refusal when none allows.
//
// Everything here is safe for concurrent use as long as the Source and
// NodeGraph are; nothing keeps state between calls.
package authz

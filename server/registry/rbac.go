package registry

import (
	"slices"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// rbacResources returns rbac.authorization.k8s.io/v1 roles, clusterroles,
// rolebindings and clusterrolebindings: what kubectl create role,
// clusterrole, rolebinding and clusterrolebinding write, and what every
// chart that runs a controller applies. They are stored as written; the
// authorizer that reads them is the server's business, not the
// registry's. Validation and defaulting are kube-apiserver's
// (pkg/apis/rbac/validation, pkg/apis/rbac/v1/defaults.go).
func rbacResources() []*Resource {
	g := rbacv1.GroupName
	return []*Resource{
		{
			Group: g, Version: "v1", Resource: "roles", Kind: "Role", ListKind: "RoleList",
			Namespaced: true,
			NameRule:   rbacName,
			New:        func() runtime.Object { return &rbacv1.Role{} },
			NewList:    func() runtime.Object { return &rbacv1.RoleList{} },
			Validate: func(obj runtime.Object) field.ErrorList {
				r := obj.(*rbacv1.Role)
				return append(validateObjectName(r.Name, rbacName), validatePolicyRules(r.Rules, true)...)
			},
			ValidateUpdate: func(obj, _ runtime.Object) field.ErrorList {
				return validatePolicyRules(obj.(*rbacv1.Role).Rules, true)
			},
			Columns: createdAtColumns(),
			Row: func(obj runtime.Object) []any {
				r := obj.(*rbacv1.Role)
				return []any{r.Name, createdAt(r.CreationTimestamp)}
			},
		},
		{
			Group: g, Version: "v1", Resource: "clusterroles", Kind: "ClusterRole", ListKind: "ClusterRoleList",
			NameRule: rbacName,
			New:      func() runtime.Object { return &rbacv1.ClusterRole{} },
			NewList:  func() runtime.Object { return &rbacv1.ClusterRoleList{} },
			Validate: func(obj runtime.Object) field.ErrorList {
				r := obj.(*rbacv1.ClusterRole)
				return append(validateObjectName(r.Name, rbacName), validateClusterRole(r)...)
			},
			ValidateUpdate: func(obj, _ runtime.Object) field.ErrorList {
				return validateClusterRole(obj.(*rbacv1.ClusterRole))
			},
			Columns: createdAtColumns(),
			Row: func(obj runtime.Object) []any {
				r := obj.(*rbacv1.ClusterRole)
				return []any{r.Name, createdAt(r.CreationTimestamp)}
			},
		},
		{
			Group: g, Version: "v1", Resource: "rolebindings", Kind: "RoleBinding", ListKind: "RoleBindingList",
			Namespaced: true,
			NameRule:   rbacName,
			New:        func() runtime.Object { return &rbacv1.RoleBinding{} },
			NewList:    func() runtime.Object { return &rbacv1.RoleBindingList{} },
			Default: func(obj runtime.Object) {
				b := obj.(*rbacv1.RoleBinding)
				defaultBinding(&b.RoleRef, b.Subjects)
			},
			Validate: func(obj runtime.Object) field.ErrorList {
				b := obj.(*rbacv1.RoleBinding)
				return append(validateObjectName(b.Name, rbacName), validateBinding(b.RoleRef, b.Subjects, true)...)
			},
			ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
				b, o := obj.(*rbacv1.RoleBinding), old.(*rbacv1.RoleBinding)
				return append(validateBinding(b.RoleRef, b.Subjects, true), validateRoleRefUnchanged(b.RoleRef, o.RoleRef)...)
			},
			Columns: bindingColumns(),
			Row: func(obj runtime.Object) []any {
				b := obj.(*rbacv1.RoleBinding)
				return bindingRow(&b.ObjectMeta, b.RoleRef, b.Subjects)
			},
		},
		{
			Group: g, Version: "v1", Resource: "clusterrolebindings", Kind: "ClusterRoleBinding", ListKind: "ClusterRoleBindingList",
			NameRule: rbacName,
			New:      func() runtime.Object { return &rbacv1.ClusterRoleBinding{} },
			NewList:  func() runtime.Object { return &rbacv1.ClusterRoleBindingList{} },
			Default: func(obj runtime.Object) {
				b := obj.(*rbacv1.ClusterRoleBinding)
				defaultBinding(&b.RoleRef, b.Subjects)
			},
			Validate: func(obj runtime.Object) field.ErrorList {
				b := obj.(*rbacv1.ClusterRoleBinding)
				return append(validateObjectName(b.Name, rbacName), validateBinding(b.RoleRef, b.Subjects, false)...)
			},
			ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
				b, o := obj.(*rbacv1.ClusterRoleBinding), old.(*rbacv1.ClusterRoleBinding)
				return append(validateBinding(b.RoleRef, b.Subjects, false), validateRoleRefUnchanged(b.RoleRef, o.RoleRef)...)
			},
			Columns: bindingColumns(),
			Row: func(obj runtime.Object) []any {
				b := obj.(*rbacv1.ClusterRoleBinding)
				return bindingRow(&b.ObjectMeta, b.RoleRef, b.Subjects)
			},
		},
	}
}

// rbacName is the naming rule of roles and bindings: any name that can be
// a URL path segment, so the bootstrap policy's "system:controller:x" and
// "system:node-proxier" are valid, which DNS subdomains are not.
func rbacName(name string, _ bool) []string { return path.IsValidPathSegmentName(name) }

// validatePolicyRules checks every rule of a Role (namespaced) or
// ClusterRole: verbs are required; a rule is about resources (apiGroups
// and resources required) or about non-resource URLs, never both, and
// non-resource URLs only in a ClusterRole, since a namespace has none.
func validatePolicyRules(rules []rbacv1.PolicyRule, namespaced bool) field.ErrorList {
	var errs field.ErrorList
	for i, rule := range rules {
		p := field.NewPath("rules").Index(i)
		if len(rule.Verbs) == 0 {
			errs = append(errs, field.Required(p.Child("verbs"), "verbs must contain at least one value"))
		}
		if len(rule.NonResourceURLs) > 0 {
			if namespaced {
				errs = append(errs, field.Invalid(p.Child("nonResourceURLs"), rule.NonResourceURLs, "namespaced rules cannot apply to non-resource URLs"))
			}
			if len(rule.APIGroups) > 0 || len(rule.Resources) > 0 || len(rule.ResourceNames) > 0 {
				errs = append(errs, field.Invalid(p.Child("nonResourceURLs"), rule.NonResourceURLs, "rules cannot apply to both regular resources and non-resource URLs"))
			}
			continue
		}
		if len(rule.APIGroups) == 0 {
			errs = append(errs, field.Required(p.Child("apiGroups"), "resource rules must supply at least one api group"))
		}
		if len(rule.Resources) == 0 {
			errs = append(errs, field.Required(p.Child("resources"), "resource rules must supply at least one resource"))
		}
	}
	return errs
}

// validateClusterRole checks a ClusterRole's rules and its aggregation
// rule: when set, at least one valid label selector, the selectors by
// which kube's clusterrole-aggregation controller picks the roles whose
// rules it copies in.
func validateClusterRole(r *rbacv1.ClusterRole) field.ErrorList {
	errs := validatePolicyRules(r.Rules, false)
	if r.AggregationRule == nil {
		return errs
	}
	p := field.NewPath("aggregationRule", "clusterRoleSelectors")
	if len(r.AggregationRule.ClusterRoleSelectors) == 0 {
		errs = append(errs, field.Required(p, "at least one clusterRoleSelector required if aggregationRule is non-nil"))
	}
	for i := range r.AggregationRule.ClusterRoleSelectors {
		sel := &r.AggregationRule.ClusterRoleSelectors[i]
		errs = append(errs, metav1validation.ValidateLabelSelector(sel, metav1validation.LabelSelectorValidationOptions{}, p.Index(i))...)
	}
	return errs
}

// defaultBinding sets what kube-apiserver defaults in a binding: the
// roleRef's apiGroup, and the apiGroup of User and Group subjects
// (ServiceAccounts are in the core group, "").
func defaultBinding(ref *rbacv1.RoleRef, subjects []rbacv1.Subject) {
	if ref.APIGroup == "" {
		ref.APIGroup = rbacv1.GroupName
	}
	for i := range subjects {
		s := &subjects[i]
		if s.APIGroup == "" && (s.Kind == rbacv1.UserKind || s.Kind == rbacv1.GroupKind) {
			s.APIGroup = rbacv1.GroupName
		}
	}
}

// validateBinding checks a RoleBinding (namespaced) or ClusterRoleBinding.
// The roleRef names a Role or ClusterRole of this API group; a
// ClusterRoleBinding has no namespace, so no Role to name. Subjects are
// Users, Groups (apiGroup rbac.authorization.k8s.io) or ServiceAccounts
// (apiGroup "", a valid name, and a namespace when the binding has none
// to default it to).
func validateBinding(ref rbacv1.RoleRef, subjects []rbacv1.Subject, namespaced bool) field.ErrorList {
	var errs field.ErrorList
	refPath := field.NewPath("roleRef")
	if ref.APIGroup != rbacv1.GroupName {
		errs = append(errs, field.NotSupported(refPath.Child("apiGroup"), ref.APIGroup, []string{rbacv1.GroupName}))
	}
	kinds := []string{"Role", "ClusterRole"}
	if !namespaced {
		kinds = []string{"ClusterRole"}
	}
	if !slices.Contains(kinds, ref.Kind) {
		errs = append(errs, field.NotSupported(refPath.Child("kind"), ref.Kind, kinds))
	}
	if ref.Name == "" {
		errs = append(errs, field.Required(refPath.Child("name"), ""))
	}
	for _, msg := range rbacNameIfSet(ref.Name) {
		errs = append(errs, field.Invalid(refPath.Child("name"), ref.Name, msg))
	}
	for i, s := range subjects {
		p := field.NewPath("subjects").Index(i)
		if s.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		}
		switch s.Kind {
		case rbacv1.ServiceAccountKind:
			if s.Name != "" {
				for _, msg := range apivalidation.NameIsDNSSubdomain(s.Name, false) {
					errs = append(errs, field.Invalid(p.Child("name"), s.Name, msg))
				}
			}
			if s.APIGroup != "" {
				errs = append(errs, field.NotSupported(p.Child("apiGroup"), s.APIGroup, []string{""}))
			}
			if !namespaced && s.Namespace == "" {
				errs = append(errs, field.Required(p.Child("namespace"), ""))
			}
		case rbacv1.UserKind, rbacv1.GroupKind:
			if s.APIGroup != rbacv1.GroupName {
				errs = append(errs, field.NotSupported(p.Child("apiGroup"), s.APIGroup, []string{rbacv1.GroupName}))
			}
		default:
			errs = append(errs, field.NotSupported(p.Child("kind"), s.Kind,
				[]string{rbacv1.ServiceAccountKind, rbacv1.UserKind, rbacv1.GroupKind}))
		}
	}
	return errs
}

func rbacNameIfSet(name string) []string {
	if name == "" {
		return nil
	}
	return rbacName(name, false)
}

// validateRoleRefUnchanged refuses to change a binding's roleRef, as
// kube-apiserver does: whoever may update a binding could otherwise
// rebind its subjects to any role; a new role means a new binding
// (kubectl auth reconcile deletes and recreates it).
func validateRoleRefUnchanged(ref, old rbacv1.RoleRef) field.ErrorList {
	if ref != old {
		return field.ErrorList{field.Invalid(field.NewPath("roleRef"), ref, "cannot change roleRef")}
	}
	return nil
}

// createdAtColumns are the columns kube-apiserver's default table shows
// for kinds without a printer, roles and clusterroles among them: NAME
// and CREATED AT.
func createdAtColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		coreNameColumn(),
		{Name: "Created At", Type: "date", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
	}
}

// createdAt is the CREATED AT cell: the creation time in UTC, RFC 3339.
func createdAt(t metav1.Time) string { return t.UTC().Format(time.RFC3339) }

// bindingColumns are kube's columns of rolebindings and
// clusterrolebindings: NAME, ROLE, AGE, and with -o wide the subjects by
// kind.
func bindingColumns() []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		coreNameColumn(),
		{Name: "Role", Type: "string", Description: rbacv1.RoleBinding{}.SwaggerDoc()["roleRef"]},
		coreAgeColumn(),
		{Name: "Users", Type: "string", Priority: 1, Description: "Users in the roleBinding"},
		{Name: "Groups", Type: "string", Priority: 1, Description: "Groups in the roleBinding"},
		{Name: "ServiceAccounts", Type: "string", Priority: 1, Description: "ServiceAccounts in the roleBinding"},
	}
}

// bindingRow is a binding's row: ROLE is Kind/name, subjects are joined
// with ", " (empty when there are none, as kube shows them), service
// accounts as namespace/name.
func bindingRow(m *metav1.ObjectMeta, ref rbacv1.RoleRef, subjects []rbacv1.Subject) []any {
	var users, groups, sas []string
	for _, s := range subjects {
		switch s.Kind {
		case rbacv1.UserKind:
			users = append(users, s.Name)
		case rbacv1.GroupKind:
			groups = append(groups, s.Name)
		case rbacv1.ServiceAccountKind:
			sas = append(sas, s.Namespace+"/"+s.Name)
		}
	}
	return []any{m.Name, ref.Kind + "/" + ref.Name, age(m.CreationTimestamp),
		strings.Join(users, ", "), strings.Join(groups, ", "), strings.Join(sas, ", ")}
}

// subjectReviewResources returns the reviews a privileged client creates
// to ask about someone else: authorization.k8s.io/v1 subjectaccessreviews
// (cluster-wide) and localsubjectaccessreviews (in one namespace), which
// webhooks and proxies such as kube-rbac-proxy send, and
// authentication.k8s.io/v1 tokenreviews, which ask who a bearer token
// belongs to. Like the self reviews (reviews.go) they are questions,
// answered by a create and never stored.
func subjectReviewResources() []*Resource {
	createOnly := []string{"create"}
	return []*Resource{
		{
			Group: "authorization.k8s.io", Version: "v1", Resource: "subjectaccessreviews",
			Kind: "SubjectAccessReview", Verbs: createOnly,
			New: func() runtime.Object { return &authorizationv1.SubjectAccessReview{} },
			Validate: func(obj runtime.Object) field.ErrorList {
				r := obj.(*authorizationv1.SubjectAccessReview)
				return append(validateReviewMeta(r.ObjectMeta, false), validateSubjectAccessReviewSpec(&r.Spec)...)
			},
		},
		{
			Group: "authorization.k8s.io", Version: "v1", Resource: "localsubjectaccessreviews",
			Kind: "LocalSubjectAccessReview", Namespaced: true, Verbs: createOnly,
			New: func() runtime.Object { return &authorizationv1.LocalSubjectAccessReview{} },
			Validate: func(obj runtime.Object) field.ErrorList {
				r := obj.(*authorizationv1.LocalSubjectAccessReview)
				errs := append(validateReviewMeta(r.ObjectMeta, true), validateSubjectAccessReviewSpec(&r.Spec)...)
				if a := r.Spec.ResourceAttributes; a != nil && a.Namespace != r.Namespace {
					errs = append(errs, field.Invalid(field.NewPath("spec", "resourceAttributes", "namespace"), a.Namespace, "must match metadata.namespace"))
				}
				if a := r.Spec.NonResourceAttributes; a != nil {
					errs = append(errs, field.Invalid(field.NewPath("spec", "nonResourceAttributes"), a, "disallowed on this kind of request"))
				}
				return errs
			},
		},
		{
			Group: "authentication.k8s.io", Version: "v1", Resource: "tokenreviews",
			Kind: "TokenReview", Verbs: createOnly,
			New: func() runtime.Object { return &authenticationv1.TokenReview{} },
			Validate: func(obj runtime.Object) field.ErrorList {
				if obj.(*authenticationv1.TokenReview).Spec.Token == "" {
					return field.ErrorList{field.Required(field.NewPath("spec", "token"), "token is required for TokenReview in authentication")}
				}
				return nil
			},
		},
	}
}

// validateSubjectAccessReviewSpec checks what kube-apiserver checks:
// exactly one of resourceAttributes and nonResourceAttributes, and a
// subject (a user, groups, or both).
func validateSubjectAccessReviewSpec(s *authorizationv1.SubjectAccessReviewSpec) field.ErrorList {
	spec := field.NewPath("spec")
	var errs field.ErrorList
	if s.ResourceAttributes != nil && s.NonResourceAttributes != nil {
		errs = append(errs, field.Invalid(spec.Child("nonResourceAttributes"), s.NonResourceAttributes, "cannot be specified in combination with resourceAttributes"))
	}
	if s.ResourceAttributes == nil && s.NonResourceAttributes == nil {
		errs = append(errs, field.Invalid(spec.Child("resourceAttributes"), s.NonResourceAttributes, "exactly one of nonResourceAttributes or resourceAttributes must be specified"))
	}
	if s.User == "" && len(s.Groups) == 0 {
		errs = append(errs, field.Invalid(spec.Child("user"), s.User, "at least one of user or group must be specified"))
	}
	return errs
}

// validateReviewMeta refuses metadata on an access review, as
// kube-apiserver does: nothing is stored, so a name or labels would be
// silently dropped. Managed fields are ignored, and a local review keeps
// its namespace, which its question is about.
func validateReviewMeta(m metav1.ObjectMeta, keepNamespace bool) field.ErrorList {
	c := m
	c.ManagedFields = nil
	msg := "must be empty"
	if keepNamespace {
		c.Namespace = ""
		msg = "must be empty except for namespace"
	}
	if !apiequality.Semantic.DeepEqual(metav1.ObjectMeta{}, c) {
		return field.ErrorList{field.Invalid(field.NewPath("metadata"), m, msg)}
	}
	return nil
}

package registry

import (
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// wantErrs fails t unless the fields of errs are want, a comma-separated
// list ("" for none): each case breaks one rule, so removing the rule
// makes its case fail.
func wantErrs(t *testing.T, errs field.ErrorList, want string) {
	t.Helper()
	var got []string
	for _, e := range errs {
		got = append(got, e.Field)
	}
	if strings.Join(got, ",") != want {
		t.Errorf("errors %v, want fields %q", errs, want)
	}
}

func rbacResource(t *testing.T, name string) *Resource {
	t.Helper()
	r, ok := Builtin().Lookup("rbac.authorization.k8s.io", "v1", name)
	if !ok {
		t.Fatalf("rbac.authorization.k8s.io/v1 %s not served", name)
	}
	return r
}

func authResource(t *testing.T, group, name string) *Resource {
	t.Helper()
	r, ok := Builtin().Lookup(group, "v1", name)
	if !ok {
		t.Fatalf("%s/v1 %s not served", group, name)
	}
	return r
}

func TestRBACRegistration(t *testing.T) {
	for _, tt := range []struct {
		group, resource, kind string
		namespaced, stored    bool
	}{
		{"rbac.authorization.k8s.io", "roles", "Role", true, true},
		{"rbac.authorization.k8s.io", "clusterroles", "ClusterRole", false, true},
		{"rbac.authorization.k8s.io", "rolebindings", "RoleBinding", true, true},
		{"rbac.authorization.k8s.io", "clusterrolebindings", "ClusterRoleBinding", false, true},
		{"authorization.k8s.io", "subjectaccessreviews", "SubjectAccessReview", false, false},
		{"authorization.k8s.io", "localsubjectaccessreviews", "LocalSubjectAccessReview", true, false},
		{"authentication.k8s.io", "tokenreviews", "TokenReview", false, false},
	} {
		r := authResource(t, tt.group, tt.resource)
		if r.Kind != tt.kind || r.Namespaced != tt.namespaced || r.Stored() != tt.stored {
			t.Errorf("%s: kind %s namespaced %t stored %t, want %s %t %t", tt.resource, r.Kind, r.Namespaced, r.Stored(), tt.kind, tt.namespaced, tt.stored)
		}
		if len(r.ShortNames) != 0 || len(r.Categories) != 0 || len(r.Subresources) != 0 {
			t.Errorf("%s: short names %v, categories %v, subresources %v; kube has none", tt.resource, r.ShortNames, r.Categories, r.Subresources)
		}
		if tt.stored {
			if r.ListKind != tt.kind+"List" || !r.Serves("list") || !r.Serves("watch") || !r.Serves("delete") {
				t.Errorf("%s: list kind %s, verbs %v; want every verb", tt.resource, r.ListKind, r.Verbs)
			}
			if r.NameRule == nil || len(r.NameRule("system:controller:x", false)) != 0 {
				t.Errorf("%s: NameRule refuses system:controller:x", tt.resource)
			}
		} else if !slices.Equal(r.Verbs, []string{"create"}) || r.NewList != nil || r.Validate == nil {
			t.Errorf("%s: verbs %v, NewList set %t, Validate set %t; want create only, validated", tt.resource, r.Verbs, r.NewList != nil, r.Validate != nil)
		}
	}
}

func TestRoleRules(t *testing.T) {
	res := rule(nil)
	for _, tt := range []struct {
		name        string
		rules       []rbacv1.PolicyRule
		role, crole string // wanted error field for a Role and a ClusterRole
	}{
		{"resource rule", res, "", ""},
		{"core group, all resources", []rbacv1.PolicyRule{{Verbs: []string{"*"}, APIGroups: []string{""}, Resources: []string{"*"}}}, "", ""},
		{"no verbs", []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}}}, "rules[0].verbs", "rules[0].verbs"},
		{"no apiGroups", []rbacv1.PolicyRule{{Verbs: []string{"get"}, Resources: []string{"pods"}}}, "rules[0].apiGroups", "rules[0].apiGroups"},
		{"no resources", []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}}}, "rules[0].resources", "rules[0].resources"},
		{"non-resource URLs", []rbacv1.PolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz"}}}, "rules[0].nonResourceURLs", ""},
		{"non-resource URLs and resources", []rbacv1.PolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz"}, Resources: []string{"pods"}}}, "rules[0].nonResourceURLs,rules[0].nonResourceURLs", "rules[0].nonResourceURLs"},
		{"second rule", append(rule(nil), rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"deployments"}}), "rules[1].verbs", "rules[1].verbs"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "ns"}, Rules: tt.rules}
			wantErrs(t, rbacResource(t, "roles").Validate(role), tt.role)
			wantErrs(t, rbacResource(t, "roles").ValidateUpdate(role, role), tt.role)
			crole := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "r"}, Rules: tt.rules}
			wantErrs(t, rbacResource(t, "clusterroles").Validate(crole), tt.crole)
			wantErrs(t, rbacResource(t, "clusterroles").ValidateUpdate(crole, crole), tt.crole)
		})
	}
}

// rule is a valid resource rule, changed by edit when set.
func rule(edit func(*rbacv1.PolicyRule)) []rbacv1.PolicyRule {
	r := rbacv1.PolicyRule{Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"pods"}}
	if edit != nil {
		edit(&r)
	}
	return []rbacv1.PolicyRule{r}
}

func TestRBACNames(t *testing.T) {
	for _, tt := range []struct {
		name, field string
	}{
		{"system:controller:deployment-controller", ""},
		{"Upper_Case.and:colons", ""},
		{"a/b", "metadata.name"},
		{"..", "metadata.name"},
		{"a%b", "metadata.name"},
	} {
		for _, res := range []string{"roles", "clusterroles", "rolebindings", "clusterrolebindings"} {
			r := rbacResource(t, res)
			obj := validRBACObject(res)
			obj.(metav1.Object).SetName(tt.name)
			if _, ok := obj.(*rbacv1.Role); ok {
				obj.(metav1.Object).SetNamespace("ns")
			}
			if got := r.NameRule(tt.name, false); (len(got) == 0) != (tt.field == "") {
				t.Errorf("%s: NameRule(%q) = %v", res, tt.name, got)
			}
			wantErrs(t, r.Validate(obj), tt.field)
		}
	}
}

// validRBACObject returns a valid, defaulted object of resource res.
func validRBACObject(res string) runtime.Object {
	ref := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"}
	subjects := []rbacv1.Subject{{Kind: "ServiceAccount", Name: "default", Namespace: "ns"}}
	switch res {
	case "roles":
		return &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "ns"}, Rules: rule(nil)}
	case "clusterroles":
		return &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "r"}, Rules: rule(nil)}
	case "rolebindings":
		return &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "ns"}, RoleRef: ref, Subjects: subjects}
	default:
		return &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "b"}, RoleRef: ref, Subjects: subjects}
	}
}

func TestClusterRoleAggregation(t *testing.T) {
	r := rbacResource(t, "clusterroles")
	sel := metav1.LabelSelector{MatchLabels: map[string]string{"rbac.example.com/aggregate-to-view": "true"}}
	for _, tt := range []struct {
		name  string
		rule  *rbacv1.AggregationRule
		field string
	}{
		{"none", nil, ""},
		{"one selector", &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{sel}}, ""},
		{"no selectors", &rbacv1.AggregationRule{}, "aggregationRule.clusterRoleSelectors"},
		{"bad label key", &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{sel, {MatchLabels: map[string]string{"a b": "c"}}}},
			"aggregationRule.clusterRoleSelectors[1].matchLabels"},
		{"bad operator", &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Near"}}}}},
			"aggregationRule.clusterRoleSelectors[0].matchExpressions[0].operator"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// An aggregated role's rules are the controller's to fill:
			// none is valid.
			cr := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "view"}, AggregationRule: tt.rule}
			wantErrs(t, r.Validate(cr), tt.field)
			wantErrs(t, r.ValidateUpdate(cr, cr), tt.field)
		})
	}
}

func TestBindingDefaults(t *testing.T) {
	for _, res := range []string{"rolebindings", "clusterrolebindings"} {
		r := rbacResource(t, res)
		obj := validRBACObject(res)
		ref := rbacv1.RoleRef{Kind: "ClusterRole", Name: "view"}
		subjects := []rbacv1.Subject{{Kind: "User", Name: "jane"}, {Kind: "Group", Name: "devs"}, {Kind: "ServiceAccount", Name: "sa", Namespace: "ns"}}
		switch b := obj.(type) {
		case *rbacv1.RoleBinding:
			b.RoleRef, b.Subjects = ref, subjects
		case *rbacv1.ClusterRoleBinding:
			b.RoleRef, b.Subjects = ref, subjects
		}
		r.Default(obj)
		wantErrs(t, r.Validate(obj), "")
		if ref.APIGroup != "" {
			t.Fatal("test setup shares the roleRef")
		}
		var gotRef rbacv1.RoleRef
		var got []rbacv1.Subject
		switch b := obj.(type) {
		case *rbacv1.RoleBinding:
			gotRef, got = b.RoleRef, b.Subjects
		case *rbacv1.ClusterRoleBinding:
			gotRef, got = b.RoleRef, b.Subjects
		}
		if gotRef.APIGroup != rbacv1.GroupName {
			t.Errorf("%s: roleRef.apiGroup %q, want %s", res, gotRef.APIGroup, rbacv1.GroupName)
		}
		for i, want := range []string{rbacv1.GroupName, rbacv1.GroupName, ""} {
			if got[i].APIGroup != want {
				t.Errorf("%s: subjects[%d] (%s) apiGroup %q, want %q", res, i, got[i].Kind, got[i].APIGroup, want)
			}
		}
	}
}

func TestBindingRules(t *testing.T) {
	ref := func(kind, name string) rbacv1.RoleRef {
		return rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: kind, Name: name}
	}
	user := rbacv1.Subject{Kind: "User", APIGroup: rbacv1.GroupName, Name: "jane"}
	for _, tt := range []struct {
		name     string
		ref      rbacv1.RoleRef
		subjects []rbacv1.Subject
		rb, crb  string // wanted error field for a RoleBinding and a ClusterRoleBinding
	}{
		{"cluster role", ref("ClusterRole", "system:controller:x"), []rbacv1.Subject{user}, "", ""},
		{"no subjects", ref("ClusterRole", "view"), nil, "", ""},
		{"role", ref("Role", "pod-reader"), []rbacv1.Subject{user}, "", "roleRef.kind"},
		{"other kind", ref("Secret", "view"), nil, "roleRef.kind", "roleRef.kind"},
		{"other api group", rbacv1.RoleRef{APIGroup: "example.com", Kind: "ClusterRole", Name: "view"}, nil, "roleRef.apiGroup", "roleRef.apiGroup"},
		{"no role name", ref("ClusterRole", ""), nil, "roleRef.name", "roleRef.name"},
		{"bad role name", ref("ClusterRole", "a/b"), nil, "roleRef.name", "roleRef.name"},
		{"group", ref("ClusterRole", "view"), []rbacv1.Subject{{Kind: "Group", APIGroup: rbacv1.GroupName, Name: "system:authenticated"}}, "", ""},
		{"service account with namespace", ref("ClusterRole", "view"), []rbacv1.Subject{{Kind: "ServiceAccount", Name: "default", Namespace: "kube-system"}}, "", ""},
		{"service account without namespace", ref("ClusterRole", "view"), []rbacv1.Subject{{Kind: "ServiceAccount", Name: "default"}}, "", "subjects[0].namespace"},
		{"service account bad name", ref("ClusterRole", "view"), []rbacv1.Subject{{Kind: "ServiceAccount", Name: "Not_DNS", Namespace: "ns"}}, "subjects[0].name", "subjects[0].name"},
		{"service account api group", ref("ClusterRole", "view"), []rbacv1.Subject{{Kind: "ServiceAccount", APIGroup: rbacv1.GroupName, Name: "default", Namespace: "ns"}}, "subjects[0].apiGroup", "subjects[0].apiGroup"},
		{"user in core group", ref("ClusterRole", "view"), []rbacv1.Subject{{Kind: "User", APIGroup: "v1", Name: "jane"}}, "subjects[0].apiGroup", "subjects[0].apiGroup"},
		{"group in other api group", ref("ClusterRole", "view"), []rbacv1.Subject{user, {Kind: "Group", APIGroup: "example.com", Name: "devs"}}, "subjects[1].apiGroup", "subjects[1].apiGroup"},
		{"subject without name", ref("ClusterRole", "view"), []rbacv1.Subject{{Kind: "User", APIGroup: rbacv1.GroupName}}, "subjects[0].name", "subjects[0].name"},
		{"unknown subject kind", ref("ClusterRole", "view"), []rbacv1.Subject{{Kind: "Robot", Name: "r2"}}, "subjects[0].kind", "subjects[0].kind"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "ns"}, RoleRef: tt.ref, Subjects: tt.subjects}
			wantErrs(t, rbacResource(t, "rolebindings").Validate(rb), tt.rb)
			wantErrs(t, rbacResource(t, "rolebindings").ValidateUpdate(rb, rb), tt.rb)
			crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "b"}, RoleRef: tt.ref, Subjects: tt.subjects}
			wantErrs(t, rbacResource(t, "clusterrolebindings").Validate(crb), tt.crb)
			wantErrs(t, rbacResource(t, "clusterrolebindings").ValidateUpdate(crb, crb), tt.crb)
		})
	}
}

func TestBindingRoleRefImmutable(t *testing.T) {
	for _, res := range []string{"rolebindings", "clusterrolebindings"} {
		r := rbacResource(t, res)
		old := validRBACObject(res)
		for _, tt := range []struct {
			name  string
			edit  func(*rbacv1.RoleRef, *[]rbacv1.Subject)
			field string
		}{
			{"subjects change", func(_ *rbacv1.RoleRef, s *[]rbacv1.Subject) {
				*s = append(*s, rbacv1.Subject{Kind: "User", APIGroup: rbacv1.GroupName, Name: "jane"})
			}, ""},
			{"role name change", func(ref *rbacv1.RoleRef, _ *[]rbacv1.Subject) { ref.Name = "edit" }, "roleRef"},
		} {
			obj := old.DeepCopyObject()
			switch b := obj.(type) {
			case *rbacv1.RoleBinding:
				tt.edit(&b.RoleRef, &b.Subjects)
			case *rbacv1.ClusterRoleBinding:
				tt.edit(&b.RoleRef, &b.Subjects)
			}
			errs := r.ValidateUpdate(obj, old)
			wantErrs(t, errs, tt.field)
			if tt.field != "" && len(errs) == 1 && errs[0].Detail != "cannot change roleRef" {
				t.Errorf("%s %s: detail %q", res, tt.name, errs[0].Detail)
			}
			// A create has no old roleRef to keep.
			wantErrs(t, r.Validate(obj), "")
		}
	}
}

func TestRBACTables(t *testing.T) {
	created := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600)))
	for _, res := range []string{"roles", "clusterroles"} {
		r := rbacResource(t, res)
		var names []string
		for _, c := range r.Columns {
			names = append(names, c.Name)
		}
		if !slices.Equal(names, []string{"Name", "Created At"}) {
			t.Errorf("%s: columns %v, want Name, Created At", res, names)
		}
		obj := validRBACObject(res)
		obj.(metav1.Object).SetCreationTimestamp(created)
		if row := r.Row(obj); len(row) != 2 || row[0] != "r" || row[1] != "2026-01-02T02:04:05Z" {
			t.Errorf("%s: row %v, want r 2026-01-02T02:04:05Z", res, row)
		}
	}

	subjects := []rbacv1.Subject{
		{Kind: "User", Name: "jane"}, {Kind: "Group", Name: "devs"}, {Kind: "User", Name: "joe"},
		{Kind: "ServiceAccount", Name: "default", Namespace: "kube-system"}, {Kind: "ServiceAccount", Name: "ci", Namespace: "build"},
	}
	for _, res := range []string{"rolebindings", "clusterrolebindings"} {
		r := rbacResource(t, res)
		var names []string
		var wide []string
		for _, c := range r.Columns {
			names = append(names, c.Name)
			if c.Priority == 1 {
				wide = append(wide, c.Name)
			}
		}
		if !slices.Equal(names, []string{"Name", "Role", "Age", "Users", "Groups", "ServiceAccounts"}) || !slices.Equal(wide, []string{"Users", "Groups", "ServiceAccounts"}) {
			t.Errorf("%s: columns %v, wide %v", res, names, wide)
		}
		obj := validRBACObject(res)
		switch b := obj.(type) {
		case *rbacv1.RoleBinding:
			b.Subjects = subjects
		case *rbacv1.ClusterRoleBinding:
			b.Subjects = subjects
		}
		want := []any{"b", "ClusterRole/view", "<unknown>", "jane, joe", "devs", "kube-system/default, build/ci"}
		if row := r.Row(obj); !slices.Equal(row, want) {
			t.Errorf("%s: row %q, want %q", res, row, want)
		}
		empty := validRBACObject(res)
		switch b := empty.(type) {
		case *rbacv1.RoleBinding:
			b.Subjects = nil
		case *rbacv1.ClusterRoleBinding:
			b.Subjects = nil
		}
		if row := r.Row(empty); row[3] != "" || row[4] != "" || row[5] != "" {
			t.Errorf("%s: row without subjects %q, want empty subject cells", res, row)
		}
	}
}

func TestSubjectAccessReviewRules(t *testing.T) {
	pods := &authorizationv1.ResourceAttributes{Namespace: "ns", Verb: "get", Resource: "pods"}
	healthz := &authorizationv1.NonResourceAttributes{Path: "/healthz", Verb: "get"}
	for _, tt := range []struct {
		name       string
		meta       metav1.ObjectMeta
		spec       authorizationv1.SubjectAccessReviewSpec
		sar, local string // wanted error field for a SubjectAccessReview and a LocalSubjectAccessReview in ns
	}{
		{"user, resource", metav1.ObjectMeta{}, authorizationv1.SubjectAccessReviewSpec{User: "jane", ResourceAttributes: pods}, "", ""},
		{"groups only", metav1.ObjectMeta{}, authorizationv1.SubjectAccessReviewSpec{Groups: []string{"devs"}, ResourceAttributes: pods}, "", ""},
		{"non-resource", metav1.ObjectMeta{}, authorizationv1.SubjectAccessReviewSpec{User: "jane", NonResourceAttributes: healthz}, "", "spec.nonResourceAttributes"},
		{"both attributes", metav1.ObjectMeta{}, authorizationv1.SubjectAccessReviewSpec{User: "jane", ResourceAttributes: pods, NonResourceAttributes: healthz}, "spec.nonResourceAttributes", "spec.nonResourceAttributes,spec.nonResourceAttributes"},
		{"no attributes", metav1.ObjectMeta{}, authorizationv1.SubjectAccessReviewSpec{User: "jane"}, "spec.resourceAttributes", "spec.resourceAttributes"},
		{"no subject", metav1.ObjectMeta{}, authorizationv1.SubjectAccessReviewSpec{ResourceAttributes: pods}, "spec.user", "spec.user"},
		{"other namespace", metav1.ObjectMeta{}, authorizationv1.SubjectAccessReviewSpec{User: "jane", ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: "other", Verb: "get", Resource: "pods"}}, "", "spec.resourceAttributes.namespace"},
		{"name set", metav1.ObjectMeta{Name: "q"}, authorizationv1.SubjectAccessReviewSpec{User: "jane", ResourceAttributes: pods}, "metadata", "metadata"},
		{"managed fields only", metav1.ObjectMeta{ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}}, authorizationv1.SubjectAccessReviewSpec{User: "jane", ResourceAttributes: pods}, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantErrs(t, authResource(t, "authorization.k8s.io", "subjectaccessreviews").Validate(
				&authorizationv1.SubjectAccessReview{ObjectMeta: tt.meta, Spec: tt.spec}), tt.sar)
			meta := tt.meta
			meta.Namespace = "ns"
			errs := authResource(t, "authorization.k8s.io", "localsubjectaccessreviews").Validate(
				&authorizationv1.LocalSubjectAccessReview{ObjectMeta: meta, Spec: tt.spec})
			wantErrs(t, errs, tt.local)
		})
	}
	// A cluster-wide review has no namespace of its own.
	wantErrs(t, authResource(t, "authorization.k8s.io", "subjectaccessreviews").Validate(&authorizationv1.SubjectAccessReview{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns"},
		Spec:       authorizationv1.SubjectAccessReviewSpec{User: "jane", ResourceAttributes: pods},
	}), "metadata")
}

func TestTokenReviewRules(t *testing.T) {
	r := authResource(t, "authentication.k8s.io", "tokenreviews")
	wantErrs(t, r.Validate(&authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: "abc"}}), "")
	wantErrs(t, r.Validate(&authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Audiences: []string{"api"}}}), "spec.token")
}

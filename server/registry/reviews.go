package registry

import (
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// reviewResources returns the self reviews every authenticated user may
// create: authorization.k8s.io/v1 selfsubjectaccessreviews and
// selfsubjectrulesreviews (kubectl auth can-i, can-i --list) and
// authentication.k8s.io/v1 selfsubjectreviews (kubectl auth whoami).
// They are questions, never stored: a create answers them.
func reviewResources() []*Resource {
	createOnly := []string{"create"}
	return []*Resource{
		{
			Group: "authorization.k8s.io", Version: "v1", Resource: "selfsubjectaccessreviews",
			Kind: "SelfSubjectAccessReview", Verbs: createOnly,
			New: func() runtime.Object { return &authorizationv1.SelfSubjectAccessReview{} },
		},
		{
			Group: "authorization.k8s.io", Version: "v1", Resource: "selfsubjectrulesreviews",
			Kind: "SelfSubjectRulesReview", Verbs: createOnly,
			New: func() runtime.Object { return &authorizationv1.SelfSubjectRulesReview{} },
		},
		{
			Group: "authentication.k8s.io", Version: "v1", Resource: "selfsubjectreviews",
			Kind: "SelfSubjectReview", Verbs: createOnly,
			New: func() runtime.Object { return &authenticationv1.SelfSubjectReview{} },
		},
	}
}

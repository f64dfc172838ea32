package hooks

// Customize names the related objects Metacontroller sends with every sync of this parent: the
// RedisFailover's pods (both components) and, with auth, its password Secret. It depends on the
// spec only, because Metacontroller caches the answer per parent generation. Every rule names
// the parent's namespace: with v2 hooks a rule without one selects across all namespaces.
func Customize(req *CustomizeRequest) CustomizeResponse {
	rf := &req.Parent
	rules := []RelatedResourceRule{{
		APIVersion:    "v1",
		Resource:      "pods",
		Namespace:     rf.Namespace,
		LabelSelector: &LabelSelector{MatchLabels: podsSelector(rf.Name)},
	}}
	if name := rf.Spec.Auth.SecretPath; name != "" {
		rules = append(rules, RelatedResourceRule{APIVersion: "v1", Resource: "secrets",
			Namespace: rf.Namespace, Names: []string{name}})
	}
	return CustomizeResponse{RelatedResources: rules}
}

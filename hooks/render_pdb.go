package hooks

import (
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// redisPDB lets one redis pod be evicted at a time. Its selector uses only the fixed selector
// labels, so it keeps matching whatever the user's labels do (spotahome #628).
func (r *renderer) redisPDB() *PodDisruptionBudget {
	one := intstr.FromInt32(1)
	return r.pdb(redisName(r.name()), ComponentRedis, policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &one})
}

// sentinelPDB keeps a quorum of sentinels, computed from the sentinel count (spotahome #653
// sized it from the redis count): with three or more, minAvailable is the quorum, so a drain
// never takes away the sentinels a failover needs and still evicts at least one (n − quorum ≥ 1).
// With one or two sentinels there is no quorum to keep through any loss; minAvailable = quorum
// would then block every eviction and hang node drains, so the budget is maxUnavailable 1.
func (r *renderer) sentinelPDB() *PodDisruptionBudget {
	n := r.rf.Spec.Sentinel.Replicas
	spec := policyv1.PodDisruptionBudgetSpec{}
	if n >= 3 {
		q := intstr.FromInt32(quorum(n))
		spec.MinAvailable = &q
	} else {
		one := intstr.FromInt32(1)
		spec.MaxUnavailable = &one
	}
	return r.pdb(sentinelName(r.name()), ComponentSentinel, spec)
}

// pdb renders a budget. Unhealthy (not Ready) pods may always be evicted: a redis pod that is
// not Ready is a replica out of sync (or a master that no longer answers), a sentinel that is not
// Ready does not count towards the quorum, so evicting them loses nothing; with the default
// policy (IfHealthyBudget), two such pods would hang a node drain forever.
func (r *renderer) pdb(name, component string, spec policyv1.PodDisruptionBudgetSpec) *PodDisruptionBudget {
	return pdbObject(r.meta(name, component, nil), SelectorLabels(r.name(), component), spec)
}

// pdbObject is a budget over the pods of selector that lets unhealthy pods be evicted (see pdb).
func pdbObject(meta ObjectMeta, selector map[string]string, spec policyv1.PodDisruptionBudgetSpec) *PodDisruptionBudget {
	spec.Selector = &metav1.LabelSelector{MatchLabels: selector}
	spec.UnhealthyPodEvictionPolicy = ptr(policyv1.AlwaysAllow)
	return &PodDisruptionBudget{APIVersion: "policy/v1", Kind: "PodDisruptionBudget", Metadata: meta, Spec: spec}
}

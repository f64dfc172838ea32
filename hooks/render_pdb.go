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
// sized it from the redis count).
func (r *renderer) sentinelPDB() *PodDisruptionBudget {
	q := intstr.FromInt32(quorum(r.rf.Spec.Sentinel.Replicas))
	return r.pdb(sentinelName(r.name()), ComponentSentinel, policyv1.PodDisruptionBudgetSpec{MinAvailable: &q})
}

func (r *renderer) pdb(name, component string, spec policyv1.PodDisruptionBudgetSpec) *PodDisruptionBudget {
	spec.Selector = &metav1.LabelSelector{MatchLabels: SelectorLabels(r.name(), component)}
	return &PodDisruptionBudget{APIVersion: "policy/v1", Kind: "PodDisruptionBudget",
		Metadata: r.meta(name, component, nil), Spec: spec}
}

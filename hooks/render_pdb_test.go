package hooks

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// allowedDisruptions is what the disruption controller computes for a budget over n expected
// pods, all healthy: currentHealthy − desiredHealthy, never below 0.
func allowedDisruptions(t *testing.T, spec policyv1.PodDisruptionBudgetSpec, n int32) (allowed, floor int32) {
	t.Helper()
	switch {
	case spec.MinAvailable != nil:
		require.Nil(t, spec.MaxUnavailable, "a budget sets one of minAvailable, maxUnavailable")
		require.Equal(t, intstr.Int, spec.MinAvailable.Type, "integer minAvailable")
		floor = spec.MinAvailable.IntVal
	case spec.MaxUnavailable != nil:
		require.Equal(t, intstr.Int, spec.MaxUnavailable.Type, "integer maxUnavailable")
		floor = max(n-spec.MaxUnavailable.IntVal, 0)
	default:
		t.Fatal("budget without minAvailable or maxUnavailable")
	}
	return max(n-floor, 0), floor
}

// TestPDBProperties: for every replica count, each budget allows one voluntary disruption when
// the workload has pods, and never one that leaves fewer than a quorum of three or more pods.
func TestPDBProperties(t *testing.T) {
	for spec := int32(0); spec <= 9; spec++ {
		for _, component := range []string{ComponentRedis, ComponentSentinel} {
			t.Run(fmt.Sprintf("%s-%d", component, spec), func(t *testing.T) {
				pod := PodSettings{Replicas: spec}
				rf := rfWith(RedisFailoverSpec{Redis: RedisSettings{PodSettings: pod}, Sentinel: SentinelSettings{PodSettings: pod}})
				r := &renderer{rf: rf.WithDefaults()}
				var pdb *PodDisruptionBudget
				var n int32
				if component == ComponentRedis {
					pdb, n = r.redisPDB(), r.rf.Spec.Redis.Replicas
				} else {
					pdb, n = r.sentinelPDB(), r.rf.Spec.Sentinel.Replicas
				}
				allowed, floor := allowedDisruptions(t, pdb.Spec, n)
				// Pods that are not Ready never hold a drain: with the default policy two of them
				// would block every eviction for good.
				require.NotNil(t, pdb.Spec.UnhealthyPodEvictionPolicy)
				assert.Equal(t, policyv1.AlwaysAllow, *pdb.Spec.UnhealthyPodEvictionPolicy)
				if n > 0 {
					assert.GreaterOrEqual(t, allowed, int32(1), "%d pods: no eviction is ever allowed (node drains hang)", n)
				}
				if n >= 3 {
					assert.GreaterOrEqual(t, floor, quorum(n), "%d pods: a drain may leave %d, below the quorum %d", n, floor, quorum(n))
				}
			})
		}
	}
}

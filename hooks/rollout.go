package hooks

import (
	"fmt"
	"strings"
)

// Role-aware rollouts and scale-downs of the redis StatefulSet. The StatefulSet controller
// replaces pods from the highest ordinal down, blind to which one is master, and a scale-down
// removes the highest ordinals: left alone, a rollout can fail over twice (each time to a pod
// replaced next) and a scale-down can remove the master. So Sync renders, from the healer's
// report:
//
//   - partition = the master's ordinal + 1 while the master's pod is not on the StatefulSet's
//     update revision: the pods above it are updated (one at a time, each Ready — in sync —
//     before the next), the master and the pods below it wait. Once every pod above is updated
//     and Ready, the healer switches over to one of them (a planned, lossless switchover, healer
//     rule 14); the master is then on the update revision and the partition drops to 0, so the
//     old master and the pods below it follow, as replicas. A master on the highest ordinal has
//     no pod above it: the healer first switches over to the lowest in-sync replica, so that a
//     rollout costs one switchover, two when the master started on the highest ordinal.
//   - replicas = at least the master's ordinal + 1: a scale-down that would remove the master's
//     pod waits until the healer has switched over to a pod that stays.
//
// Without a master in the report (not reported yet, a failover in progress) the observed
// partition and any larger observed replica count are kept: nothing is rolled or removed while
// nobody knows where the master is.

// AnnotationRollout on a RedisFailover chooses how the redis StatefulSet rolls out and scales
// down: RolloutRoleAware (the default, described above) or RolloutRollingUpdate, the
// StatefulSet's own rolling update, blind to the master (partition 0, a scale-down removes the
// highest ordinals at once, the healer plans no switchover; a master's pod still hands over in
// its preStop hook). The second is there to compare the two on a real cluster, and as a way out
// should the role-aware rollout ever hold a rollout that must go on.
const AnnotationRollout = "redhook.io/rollout"

// The values of AnnotationRollout.
const (
	RolloutRoleAware     = "role-aware"
	RolloutRollingUpdate = "rolling-update"
)

// roleAwareRollout tells whether rf rolls out role-aware (AnnotationRollout, validated).
func roleAwareRollout(rf *RedisFailover) bool {
	return rf.Annotations[AnnotationRollout] != RolloutRollingUpdate
}

// validateRollout checks AnnotationRollout.
func validateRollout(e *errs, rf *RedisFailover) {
	switch v, ok := rf.Annotations[AnnotationRollout]; {
	case !ok, v == RolloutRoleAware, v == RolloutRollingUpdate:
	default:
		e.add("metadata.annotations["+AnnotationRollout+"]", "%q: must be %q (the default) or %q", v, RolloutRoleAware, RolloutRollingUpdate)
	}
}

// redisRollout is what Sync renders into the redis StatefulSet.
type redisRollout struct {
	replicas, partition int32
}

// planRollout decides the redis StatefulSet's replicas and partition. switchable tells whether
// the healer can ever switch over (see canSwitchOver): when it cannot, nothing is held, or a
// rollout would wait forever.
func planRollout(want int32, sts *workload, pods []PodRef, obs HealerReport, switchable bool) redisRollout {
	out := redisRollout{replicas: want}
	if sts == nil || !switchable {
		return out // created now (every pod starts on the one revision), or nothing to wait for
	}
	master := masterPod(pods, obs)
	if master == nil {
		ready := false
		for _, p := range pods {
			ready = ready || p.Ready
		}
		if !ready {
			return out // nothing runs: a fixed spec must be able to roll out
		}
		if s := sts.Spec.UpdateStrategy.RollingUpdate; s != nil && s.Partition != nil {
			out.partition = *s.Partition
		}
		if sts.Spec.Replicas != nil && *sts.Spec.Replicas > want {
			out.replicas = *sts.Spec.Replicas
		}
		return out
	}
	m := int32(master.Ordinal)
	out.replicas = max(want, m+1)
	rev := sts.Status.UpdateRevision
	outdated := false
	for _, p := range pods {
		outdated = outdated || !onRevision(p, rev)
	}
	out.partition = m + 1
	if onRevision(*master, rev) && outdated {
		out.partition = 0 // the master is updated: the rest are replicas
	}
	return out
}

// waiting says what the rollout waits for: the healer's switchover away from the master's pod.
func (ro redisRollout) waiting(pods []PodRef, obs HealerReport, want int32) []string {
	master := masterPod(pods, obs)
	if master == nil {
		return nil
	}
	var out []string
	if ro.replicas > want {
		out = append(out, fmt.Sprintf("The master %s is among the pods a scale-down to %d removes: %d kept until the healer has switched over to a pod that stays.",
			master.Name, want, ro.replicas))
	}
	if ro.partition > 0 && master.Outdated {
		out = append(out, fmt.Sprintf("Partition %d: the master %s and the pods below it are updated after the pods above it and a switchover.",
			ro.partition, master.Name))
	}
	return out
}

// switchoverDue tells whether the healer's planned switchover is due now: the master's pod must
// leave (a scale-down removes it) or is outdated with every pod above it updated and Ready. The
// switchover changes nothing Metacontroller watches, and the master EndpointSlice follows it
// only at the next sync: Sync asks for that sync sooner (masterMoving) while one is due.
func (ro redisRollout) switchoverDue(pods []PodRef, obs HealerReport, want int32) bool {
	master := masterPod(pods, obs)
	if master == nil || obs.SwitchoverHeld {
		return false
	}
	if ro.replicas > want {
		for _, p := range pods {
			if p.Ordinal >= 0 && p.Ordinal < int(want) && p.Ready && !p.Terminating {
				return true // a pod that stays can take over
			}
		}
		return false
	}
	if !master.Outdated || ro.partition == 0 {
		return false
	}
	for _, p := range pods {
		if p.Ordinal > master.Ordinal && (p.Outdated || !p.Ready) {
			return false
		}
	}
	return true
}

// canSwitchOver tells whether the healer's planned switchover (rule 14) can ever happen for rf
// with pods redis pods running: the rollout is role-aware, Sentinel runs (it does the
// promotion), there are two redis pods
// or more, desired or running (a scale-down to one pod switches over to the pod that stays
// before the others go), and customConfig does not forbid every promotion with
// replica-priority 0.
func canSwitchOver(rf *RedisFailover, pods int) bool {
	if !roleAwareRollout(rf) || !sentinelsEnabled(rf) || rf.Spec.BootstrapNode != nil || max(int(rf.Spec.Redis.Replicas), pods) < 2 {
		return false
	}
	for _, e := range configEntries(rf.Spec.Redis.CustomConfig) {
		if (strings.EqualFold(e.Key, "replica-priority") || strings.EqualFold(e.Key, "slave-priority")) && strings.TrimSpace(e.Value) == "0" {
			return false
		}
	}
	return true
}

// masterPod is the redis pod the healer reports as master; nil when none is known.
func masterPod(pods []PodRef, obs HealerReport) *PodRef {
	if obs.Master == nil {
		return nil
	}
	for i := range pods {
		if pods[i].Name == obs.Master.Pod && pods[i].Ordinal >= 0 {
			return &pods[i]
		}
	}
	return nil
}

// onRevision tells whether a pod runs the StatefulSet's update revision (true when either is
// unknown: a pod without the label, a StatefulSet the controller has not reported on).
func onRevision(p PodRef, rev string) bool {
	return rev == "" || p.Revision == "" || p.Revision == rev
}

// markOutdated sets PodRef.Outdated for the healer.
func markOutdated(pods []PodRef, sts *workload) {
	rev := ""
	if sts != nil {
		rev = sts.Status.UpdateRevision
	}
	for i := range pods {
		pods[i].Outdated = !onRevision(pods[i], rev)
	}
}

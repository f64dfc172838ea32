package hooks

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestPlanRollout(t *testing.T) {
	sts := func(replicas, partition int32, rev string) *workload {
		w := &workload{}
		w.Spec.Replicas = &replicas
		w.Spec.UpdateStrategy.RollingUpdate = &struct {
			Partition *int32 `json:"partition"`
		}{Partition: &partition}
		w.Status.UpdateRevision = rev
		return w
	}
	pods := func(revs ...string) []PodRef {
		var out []PodRef
		for i, r := range revs {
			out = append(out, PodRef{Name: RedisPodName("a", i), Ordinal: i, Revision: r, Ready: true})
		}
		return out
	}
	master := func(i int) HealerReport {
		return HealerReport{Master: &MasterStatus{Pod: RedisPodName("a", i)}}
	}
	notReady := func(p []PodRef) []PodRef {
		for i := range p {
			p[i].Ready = false
		}
		return p
	}
	tests := []struct {
		name       string
		want       int32
		sts        *workload
		pods       []PodRef
		obs        HealerReport
		switchable bool
		out        redisRollout
	}{
		{"created: nothing held", 3, nil, nil, HealerReport{}, true, redisRollout{3, 0}},
		{"steady: the master and below are protected", 3, sts(3, 0, "r1"), pods("r1", "r1", "r1"), master(1), true, redisRollout{3, 2}},
		{"rollout: the pods above the outdated master first", 3, sts(3, 1, "r2"), pods("r1", "r1", "r2"), master(0), true, redisRollout{3, 1}},
		{"rollout: the master is updated, the rest follow", 3, sts(3, 1, "r2"), pods("r1", "r1", "r2"), master(2), true, redisRollout{3, 0}},
		{"pods without revision labels count as updated", 3, sts(3, 0, "r2"), pods("", "", ""), master(0), true, redisRollout{3, 1}},
		{"scale-down removing the master's pod waits", 1, sts(3, 3, "r1"), pods("r1", "r1", "r1"), master(2), true, redisRollout{3, 3}},
		{"scale-down keeping the master's pod goes ahead", 1, sts(3, 1, "r1"), pods("r1", "r1", "r1"), master(0), true, redisRollout{1, 1}},
		{"no master known, pods Ready: the observed partition and count are kept", 2, sts(3, 2, "r2"), pods("r1", "r1", "r2"), HealerReport{}, true, redisRollout{3, 2}},
		{"no master known, no pod Ready: nothing held (a fixed spec must roll out)", 2, sts(3, 3, "r2"), notReady(pods("r1", "r1", "r1")), HealerReport{}, true, redisRollout{2, 0}},
		{"no switchover possible (one pod, no sentinels, priority 0): nothing held", 1, sts(1, 1, "r2"), pods("r1"), master(0), false, redisRollout{1, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.out, planRollout(tt.want, tt.sts, tt.pods, tt.obs, tt.switchable))
		})
	}

	// switchoverDue: when the healer's switchover is the next step (Sync resyncs sooner).
	due := []struct {
		name string
		want int32
		sts  *workload
		pods []PodRef
		obs  HealerReport
		due  bool
	}{
		{"steady", 3, sts(3, 2, "r1"), pods("r1", "r1", "r1"), master(1), false},
		{"a pod above the master is outdated", 3, sts(3, 1, "r2"), pods("r1", "r1", "r2"), master(0), false},
		{"every pod above the master is updated and Ready", 3, sts(3, 1, "r2"), pods("r1", "r2", "r2"), master(0), true},
		{"an updated pod above the master is not Ready", 3, sts(3, 1, "r2"), append(pods("r1", "r2"), notReady(pods("r2", "r2", "r2"))[2]), master(0), false},
		{"the master on the highest ordinal is outdated", 3, sts(3, 3, "r2"), pods("r1", "r1", "r1"), master(2), true},
		{"the master is updated", 3, sts(3, 1, "r2"), pods("r1", "r1", "r2"), master(2), false},
		{"a scale-down removes the master's pod", 1, sts(3, 3, "r1"), pods("r1", "r1", "r1"), master(2), true},
		{"no master known", 3, sts(3, 1, "r2"), pods("r1", "r2", "r2"), HealerReport{}, false},
		{"a scale-down removes the master's pod, no pod that stays is Ready", 1, sts(3, 3, "r1"), append(notReady(pods("r1")), pods("r1", "r1", "r1")[1:]...), master(2), false},
		{"the healer holds its switchover back", 3, sts(3, 1, "r2"), pods("r1", "r2", "r2"), HealerReport{Master: master(0).Master, SwitchoverHeld: true}, false},
	}
	for _, tt := range due {
		t.Run("due: "+tt.name, func(t *testing.T) {
			markOutdated(tt.pods, tt.sts)
			ro := planRollout(tt.want, tt.sts, tt.pods, tt.obs, true)
			assert.Equal(t, tt.due, ro.switchoverDue(tt.pods, tt.obs, tt.want))
		})
	}
}

func TestCanSwitchOver(t *testing.T) {
	rf := func(edit func(*RedisFailover)) *RedisFailover {
		r := (&RedisFailover{}).WithDefaults()
		r.Spec.Redis.Replicas = 3
		edit(r)
		return r
	}
	assert.True(t, canSwitchOver(rf(func(*RedisFailover) {}), 3))
	assert.True(t, canSwitchOver(rf(func(*RedisFailover) {}), 0), "created: the desired count")
	assert.False(t, canSwitchOver(rf(func(r *RedisFailover) { r.Spec.Redis.Replicas = 1 }), 1), "one pod")
	assert.True(t, canSwitchOver(rf(func(r *RedisFailover) { r.Spec.Redis.Replicas = 1 }), 3), "scaling down to one pod")
	assert.False(t, canSwitchOver(rf(func(r *RedisFailover) { r.Spec.Redis.CustomConfig = []string{"replica-priority 0"} }), 3), "priority 0")
	assert.True(t, canSwitchOver(rf(func(r *RedisFailover) { r.Spec.Redis.CustomConfig = []string{"replica-priority 10"} }), 3))
	assert.False(t, canSwitchOver(rf(func(r *RedisFailover) { r.Spec.BootstrapNode = &BootstrapSettings{Host: "10.0.0.1"} }), 3), "bootstrap")
}

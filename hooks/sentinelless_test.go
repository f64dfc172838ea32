package hooks

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewTopologySentinelless(t *testing.T) {
	c := findCase(t, "sentinelless")
	topo, ok := NewTopology(&c.req)
	require.True(t, ok)
	assert.False(t, topo.SentinelsEnabled)
	assert.True(t, topo.Sentinelless)
	assert.EqualValues(t, 7, topo.DetectionTimeout)
	assert.Equal(t, SentinellessConfig(7), topo.ModeConfig)
	assert.Equal(t, []ConfigEntry{{"min-replicas-to-write", "1"}, {"min-replicas-max-lag", "4"},
		{"repl-timeout", "5"}, {"repl-ping-replica-period", "1"}}, topo.ModeConfig)

	// Back to Sentinel mode: Redis' defaults, to unfence the running nodes at once.
	c.req.Parent.Spec.Sentinel.Enabled = ptr(true)
	topo, ok = NewTopology(&c.req)
	require.True(t, ok)
	assert.True(t, topo.SentinelsEnabled)
	assert.False(t, topo.Sentinelless)
	assert.Zero(t, topo.DetectionTimeout)
	assert.Equal(t, []ConfigEntry{{"min-replicas-to-write", "0"}, {"min-replicas-max-lag", "10"},
		{"repl-timeout", "60"}, {"repl-ping-replica-period", "10"}}, topo.ModeConfig)

	// A key the user sets, under either name, is the user's.
	c.req.Parent.Spec.Redis.CustomConfig = []string{"min-slaves-to-write 1", "repl-timeout 30"}
	topo, ok = NewTopology(&c.req)
	require.True(t, ok)
	assert.Equal(t, []ConfigEntry{{"min-replicas-max-lag", "10"}, {"repl-ping-replica-period", "10"}}, topo.ModeConfig)

	// Bootstrap mode manages none of them.
	c = findCase(t, "bootstrap")
	topo, ok = NewTopology(&c.req)
	require.True(t, ok)
	assert.Empty(t, topo.ModeConfig)
	assert.False(t, topo.Sentinelless)
}

func TestValidateSentinelless(t *testing.T) {
	off := ptr(false)
	tests := []struct {
		name string
		spec RedisFailoverSpec
		want []string
	}{
		{"defaults", RedisFailoverSpec{Sentinel: SentinelSettings{Enabled: off}}, nil},
		{"timeout in range", RedisFailoverSpec{Sentinel: SentinelSettings{Enabled: off, DetectionTimeoutSeconds: 10}}, nil},
		{"timeout too short", RedisFailoverSpec{Sentinel: SentinelSettings{Enabled: off, DetectionTimeoutSeconds: 4}},
			[]string{"spec.sentinel.detectionTimeoutSeconds"}},
		{"one redis", RedisFailoverSpec{Sentinel: SentinelSettings{Enabled: off}, Redis: RedisSettings{PodSettings: PodSettings{Replicas: 1}}},
			[]string{"spec.redis.replicas"}},
		{"one redis with Sentinel is fine", RedisFailoverSpec{Redis: RedisSettings{PodSettings: PodSettings{Replicas: 1}}}, nil},
		{"fencing in customConfig", RedisFailoverSpec{Sentinel: SentinelSettings{Enabled: off},
			Redis: RedisSettings{PodSettings: PodSettings{CustomConfig: []string{"maxmemory 1mb", "min-slaves-max-lag 9"}}}},
			[]string{"spec.redis.customConfig[1]"}},
		{"fencing in customConfig with Sentinel is the user's", RedisFailoverSpec{
			Redis: RedisSettings{PodSettings: PodSettings{CustomConfig: []string{"min-replicas-to-write 1"}}}}, nil},
		{"allowSentinels without sentinels", RedisFailoverSpec{Sentinel: SentinelSettings{Enabled: off},
			BootstrapNode: &BootstrapSettings{Host: "10.1.2.3", AllowSentinels: true}}, []string{"spec.bootstrapNode.allowSentinels"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var paths []string
			for _, e := range Validate(rfWith(tt.spec)) {
				paths = append(paths, e.Path)
			}
			assert.Equal(t, tt.want, paths)
		})
	}
}

func TestSentinelsEnabled(t *testing.T) {
	assert.True(t, SentinelsEnabled(rfWith(RedisFailoverSpec{})), "absent: true")
	assert.False(t, SentinelsEnabled(rfWith(RedisFailoverSpec{Sentinel: SentinelSettings{Enabled: ptr(false)}})))
	assert.True(t, sentinelless(rfWith(RedisFailoverSpec{Sentinel: SentinelSettings{Enabled: ptr(false)}})))
	boot := RedisFailoverSpec{Sentinel: SentinelSettings{Enabled: ptr(false)}, BootstrapNode: &BootstrapSettings{Host: "10.1.2.3"}}
	assert.False(t, sentinelless(rfWith(boot)), "bootstrap mode fails over nothing")
}

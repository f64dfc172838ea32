package decision

import (
	"testing"
	"time"

	"github.com/redhook/redhook/hooks"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSameConfig(t *testing.T) {
	for _, tt := range []struct {
		got, want string
		same      bool
	}{
		{"104857600", "100mb", true},
		{"100000000", "100m", true},
		{"1073741824", "1GB", true},
		{"1024", "1kb", true},
		{"104857600", "100m", false},
		{"yes", "YES", true},
		{"900 1 300 10", "900 1  300 10", true},
		{"", `""`, true},
		{"3600 1", `""`, false},
		{"allkeys-lru", "noeviction", false},
		{"5000", "5000", true},
	} {
		assert.Equal(t, tt.same, sameConfig(tt.got, tt.want), "%q vs %q", tt.got, tt.want)
	}
}

// spotahomeConfig is spotahome's custom-config example with two save lines, as hooks.NewTopology
// splits customConfig.
var spotahomeConfig = []hooks.ConfigEntry{{Key: "maxclients", Value: "100"}, {Key: "hz", Value: "50"},
	{Key: "timeout", Value: "60"}, {Key: "tcp-keepalive", Value: "60"},
	{Key: "client-output-buffer-limit", Value: "normal 0 0 0"},
	{Key: "client-output-buffer-limit", Value: "slave 1000000000 1000000000 0"},
	{Key: "client-output-buffer-limit", Value: "pubsub 33554432 8388608 60"},
	{Key: "save", Value: "900 1"}, {Key: "save", Value: "300 10"}}

// TestHolds compares values captured from redis-server 7.0.15 (CONFIG GET after reading a
// redis.conf, or after CONFIG SET) with merged customConfig values.
func TestHolds(t *testing.T) {
	const defaultLimits = "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
	for _, tt := range []struct {
		key, got, want string
		same           bool
	}{
		{"save", "900 1 300 10", "900 1 300 10", true},
		{"save", "300 10", "900 1 300 10", false}, // what CONFIG SET per line left
		{"save", "", "", true},
		{"client-output-buffer-limit", "normal 0 0 0 slave 1000000000 1000000000 0 pubsub 33554432 8388608 60",
			"normal 0 0 0 slave 1000000000 1000000000 0 pubsub 33554432 8388608 60", true},
		// Only the classes customConfig names are its own.
		{"client-output-buffer-limit", defaultLimits, "normal 0 0 0", true},
		{"client-output-buffer-limit", defaultLimits, "pubsub 32mb 8mb 60", true},
		{"client-output-buffer-limit", defaultLimits, "slave 1000000000 1000000000 0", false},
		{"client-output-buffer-limit", defaultLimits, "replica 256mb 64mb 60", true},
		{"client-output-buffer-limit", defaultLimits, "replica 256mb 64mb 61", false},
		// memtoull: 1g is 10^9, 1gb is 2^30.
		{"client-output-buffer-limit", "normal 0 0 0 slave 1073741824 1073741824 0 pubsub 1 2 3", "replica 1gb 1gb 0", true},
		{"client-output-buffer-limit", "normal 0 0 0 slave 1073741824 1073741824 0 pubsub 1 2 3", "replica 1g 1g 0", false},
		{"client-output-buffer-limit", "normal 0 0 0 slave 1000000000 1000000000 0 pubsub 1 2 3", "slave 1g 1g 0", true},
		{"notify-keyspace-events", "AKE", "KEA", true},
		{"notify-keyspace-events", "AKE", "g$lshzxetdKE", true},
		{"notify-keyspace-events", "AKEm", "AKEmn", true}, // 7.0 drops n after A
		{"notify-keyspace-events", "nK", "Kn", true},
		{"notify-keyspace-events", "g$lshzxetKE", "AKE", false},
		{"notify-keyspace-events", "AKE", "KE", false},
		{"notify-keyspace-events", "", "", true},
		{"latency-tracking-info-percentiles", "50 99", "50.0 99", true},
		{"oom-score-adj-values", "0 200 800", "0 200 800", true},
		{"oom-score-adj-values", "0 200 800", "0 300 900", false},
		{"maxmemory", "104857600", "100mb", true},
		{"maxmemory-policy", "allkeys-lru", "noeviction", false},
	} {
		assert.Equal(t, tt.same, holds(tt.key, tt.got, tt.want), "%s: %q vs %q", tt.key, tt.got, tt.want)
	}
}

func TestMergedConfig(t *testing.T) {
	e := func(kv ...string) []hooks.ConfigEntry {
		var out []hooks.ConfigEntry
		for i := 0; i < len(kv); i += 2 {
			out = append(out, hooks.ConfigEntry{Key: kv[i], Value: kv[i+1]})
		}
		return out
	}
	for _, tt := range []struct {
		name    string
		entries []hooks.ConfigEntry
		want    []setting
	}{
		{"spotahome's example: save lines add up, buffer limits per class", spotahomeConfig, []setting{
			{"maxclients", "100"}, {"hz", "50"}, {"timeout", "60"}, {"tcp-keepalive", "60"},
			{"client-output-buffer-limit", "normal 0 0 0 slave 1000000000 1000000000 0 pubsub 33554432 8388608 60"},
			{"save", "900 1 300 10"}}},
		{`save "" clears the lines before it`, e("save", "900 1", "save", `""`, "save", "60 5"),
			[]setting{{"save", "60 5"}}},
		{"save twice the same", e("save", "900 1", "save", "900 1"), []setting{{"save", "900 1 900 1"}}},
		{"buffer limits: the last line of a class wins, replica is slave",
			e("client-output-buffer-limit", "pubsub 1mb 2mb 3", "client-output-buffer-limit", "replica 1gb 1gb 0 pubsub 4mb 5mb 6",
				"client-output-buffer-limit", "slave 2gb 2gb 0"),
			[]setting{{"client-output-buffer-limit", "pubsub 4mb 5mb 6 slave 2gb 2gb 0"}}},
		{"buffer limits not in groups of four: kept as written", e("client-output-buffer-limit", "normal 0 0"),
			[]setting{{"client-output-buffer-limit", "normal 0 0"}}},
		{"any other option: the last line wins", e("maxmemory", "1mb", "oom-score-adj-values", "0 100 200",
			"maxmemory", "2mb", "oom-score-adj-values", "0 300 900", "notify-keyspace-events", `"KEA"`),
			[]setting{{"maxmemory", "2mb"}, {"oom-score-adj-values", "0 300 900"}, {"notify-keyspace-events", "KEA"}}},
		{"not settable live, or secret: never", e("databases", "32", "rename-command", "FLUSHALL x", "io-threads", "4",
			"requirepass", "s3cret", "masterauth", "s3cret", "dir", "/data", "hz", "20"),
			[]setting{{"hz", "20"}}},
	} {
		t.Run(tt.name, func(t *testing.T) { assert.Equal(t, tt.want, mergedConfig(tt.entries)) })
	}
}

func TestConfigArgs(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []string
		ok   bool
	}{
		{"900 1", []string{"900", "1"}, true},
		{`""`, []string{""}, true},
		{`"{title} {listen-addr}"`, []string{"{title} {listen-addr}"}, true},
		{`'it\'s' x`, []string{"it's", "x"}, true},
		{`"\x41\n\"q\""`, []string{"A\n\"q\""}, true},
		{`ab"c d"`, []string{"abc d"}, true},
		{`"unbalanced`, nil, false},
		{`"a"b`, nil, false},
		{"", nil, true},
	} {
		got, ok := configArgs(tt.in)
		assert.Equal(t, tt.ok, ok, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}
}

func TestConfigKeysOnlyLive(t *testing.T) {
	top := hooks.Topology{RedisConfig: append([]hooks.ConfigEntry{{Key: "databases", Value: "32"},
		{Key: "requirepass", Value: "s3cret"}, {Key: "rename-command", Value: "FLUSHALL x"}}, spotahomeConfig...)}
	assert.Equal(t, []string{"maxclients", "hz", "timeout", "tcp-keepalive", "client-output-buffer-limit", "save",
		ReplicaPriorityKey}, ConfigKeys(top))
}

func TestHoldRefused(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	o := Snapshot{Time: now, Redis: []RedisNode{{Pod: hooks.PodRef{Name: "rfr-a-0"}, Info: RedisInfo{RunID: "run0"}},
		{Pod: hooks.PodRef{Name: "rfr-a-1"}, Info: RedisInfo{RunID: "run1"}}}}
	set0 := ConfigSet{Pod: "rfr-a-0", Key: "maxclients", Value: "21000", Why: "is \"10000\""}
	set1 := ConfigSet{Pod: "rfr-a-1", Key: "maxclients", Value: "21000", Why: "is \"10000\""}
	hz := ConfigSet{Pod: "rfr-a-0", Key: "hz", Value: "20"}
	refusal := func(pod, runID, value string, at time.Time) Refusal {
		return Refusal{Pod: pod, RunID: runID, Key: "maxclients", Value: value, Err: "ERR CONFIG SET failed", Time: at}
	}
	for _, tt := range []struct {
		name    string
		refused []Refusal
		send    []Action
		holding []Refusal
		errs    int
	}{
		{"nothing refused", nil, []Action{set0, set1, hz}, nil, 0},
		{"refused by this pod since it started: held, and said",
			[]Refusal{refusal("rfr-a-0", "run0", "21000", now.Add(-time.Minute))},
			[]Action{set1, hz}, []Refusal{refusal("rfr-a-0", "run0", "21000", now.Add(-time.Minute))}, 1},
		{"the pod restarted: sent again", []Refusal{refusal("rfr-a-0", "old", "21000", now.Add(-time.Minute))},
			[]Action{set0, set1, hz}, nil, 0},
		{"customConfig changed: sent", []Refusal{refusal("rfr-a-0", "run0", "30000", now.Add(-time.Minute))},
			[]Action{set0, set1, hz}, nil, 0},
		{"refused long ago: tried again", []Refusal{refusal("rfr-a-0", "run0", "21000", now.Add(-RefusalRetry))},
			[]Action{set0, set1, hz}, nil, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			send, holding, errs := HoldRefused([]Action{set0, set1, hz}, o, tt.refused)
			assert.Equal(t, tt.send, send)
			assert.Equal(t, tt.holding, holding)
			require.Len(t, errs, tt.errs)
			for _, e := range errs {
				assert.Contains(t, e, "rfr-a-0: config set maxclients")
				assert.Contains(t, e, "ERR CONFIG SET failed")
			}
		})
	}
	r, ok := NewRefusal(set1, o, "ERR x")
	require.True(t, ok)
	assert.Equal(t, Refusal{Pod: "rfr-a-1", RunID: "run1", Key: "maxclients", Value: "21000", Err: "ERR x", Time: now}, r)
	_, ok = NewRefusal(hz, o, "ERR x")
	assert.True(t, ok)
	_, ok = NewRefusal(Promote{Pod: "rfr-a-0"}, o, "ERR x")
	assert.False(t, ok)
}

// TestPlanMergedConfig plans rule 9 on CONFIG GET replies captured from redis-server 7.0.15:
// booted with spotahome's example in redis.conf, and after the CONFIG SET per line that the
// healer used to send (save "300 10", client-output-buffer-limit "pubsub …").
func TestPlanMergedConfig(t *testing.T) {
	captured := func(file string) func(*testing.T) map[string]string {
		return func(t *testing.T) map[string]string {
			kv, err := ParseConfigGet(readReply(t, file))
			require.NoError(t, err)
			return kv
		}
	}
	booted, flipped := captured("config_get_spotahome.json"), captured("config_get_spotahome_flipped.json")
	for _, tt := range []struct {
		name   string
		extra  []hooks.ConfigEntry
		config []func(*testing.T) map[string]string
		want   []string
	}{
		{"booted from redis.conf: nothing to write", nil,
			[]func(*testing.T) map[string]string{booted, booted, booted}, nil},
		{"flipped: one CONFIG SET of the merged save, buffer limits hold", nil,
			[]func(*testing.T) map[string]string{booted, flipped, booted},
			[]string{`config set rfr-a-1 save "900 1 300 10"`}},
		{"not settable live or secret: never written", []hooks.ConfigEntry{{Key: "databases", Value: "32"},
			{Key: "rename-command", Value: "FLUSHALL x"}, {Key: "requirepass", Value: "s3cret"}},
			[]func(*testing.T) map[string]string{booted, booted, booted}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			top, o := healthy()
			top.RedisConfig = append(append([]hooks.ConfigEntry(nil), spotahomeConfig...), tt.extra...)
			for i := range o.Redis {
				o.Redis[i].Config = tt.config[i](t)
			}
			got := Plan(top, o)
			assert.Equal(t, tt.want, strs(got), reasons(got))
			for _, a := range got {
				assert.NotContains(t, a.String()+a.Reason(), "s3cret")
			}
		})
	}
}

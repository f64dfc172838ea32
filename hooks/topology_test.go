package hooks

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func findCase(t *testing.T, name string) goldenCase {
	t.Helper()
	for _, c := range loadGoldenCases(t) {
		if c.name == name {
			return c
		}
	}
	t.Fatalf("no golden case %s", name)
	return goldenCase{}
}

func TestNewTopology(t *testing.T) {
	c := findCase(t, "auth-running")
	topo, ok := NewTopology(&c.req)
	require.True(t, ok)
	assert.Equal(t, "shop/cache", topo.Key())
	assert.Equal(t, "hunter2-Pa55w0rd", topo.Password.Value())
	assert.EqualValues(t, 2, topo.Quorum)
	assert.True(t, topo.SentinelsEnabled)
	require.Len(t, topo.Redis, 3)
	for i, p := range topo.Redis {
		assert.Equal(t, i, p.Ordinal)
		assert.True(t, p.Ready)
		assert.NotEmpty(t, p.IP)
		assert.Equal(t, "rfr-rev1", p.Revision)
	}
	assert.Len(t, topo.Sentinels, 3)
	assert.Equal(t, []ConfigEntry{{"down-after-milliseconds", "5000"}, {"failover-timeout", "10000"},
		{"parallel-syncs", "2"}}, topo.SentinelConfig)
	assert.Equal(t, placeholder, topo.Placeholder)
	assert.False(t, topo.CustomShutdown)
	c.req.Parent.Spec.Redis.ShutdownConfigMap = "my-shutdown"
	topo, ok = NewTopology(&c.req)
	require.True(t, ok)
	assert.True(t, topo.CustomShutdown, "the user's preStop hook: the healer leaves a terminating master to it")
}

func TestNewTopologyRefusesToGuess(t *testing.T) {
	for _, name := range []string{"auth-secret-missing", "invalid-custom-config", "invalid-spec-type"} {
		c := findCase(t, name)
		topo, ok := NewTopology(&c.req)
		assert.False(t, ok, name)
		assert.True(t, topo.Held, name)
		assert.Equal(t, c.req.Parent.Namespace+"/"+c.req.Parent.Name, topo.Key(), name)
		assert.False(t, topo.Password.IsSet(), name)
		assert.Empty(t, topo.RedisConfig, name)
		assert.Zero(t, topo.RedisPort, "%s: only the pods are known", name)
	}
}

func TestNewTopologyHeldKeepsThePods(t *testing.T) {
	c := findCase(t, "auth-running")
	full, ok := NewTopology(&c.req)
	require.True(t, ok)
	c.req.Parent.Spec.Redis.CustomConfig = []string{"port 7000"} // a managed option: invalid
	held, ok := NewTopology(&c.req)
	assert.False(t, ok)
	assert.Equal(t, Topology{Namespace: "shop", Name: "cache", Redis: full.Redis, Sentinels: full.Sentinels, Held: true}, held)
}

func TestNewTopologyBootstrap(t *testing.T) {
	c := findCase(t, "bootstrap-with-sentinels")
	topo, ok := NewTopology(&c.req)
	require.True(t, ok)
	require.NotNil(t, topo.Bootstrap)
	assert.Equal(t, Endpoint{Host: "old-redis.legacy.svc", Port: 6380}, *topo.Bootstrap)
	assert.True(t, topo.SentinelsEnabled)
	c = findCase(t, "bootstrap")
	topo, ok = NewTopology(&c.req)
	require.True(t, ok)
	assert.False(t, topo.SentinelsEnabled)
}

// TestConfigEntriesUnquote: the healer's CONFIG SET gets the value Redis reads from redis.conf,
// without the quotes of the line.
func TestConfigEntriesUnquote(t *testing.T) {
	assert.Equal(t, []ConfigEntry{
		{Key: "maxmemory-policy", Value: "allkeys-lru"},
		{Key: "maxmemory", Value: "100mb"},
	}, configEntries([]string{`maxmemory-policy 'allkeys-lru'`, "MAXMEMORY 100mb"}))
	for _, tt := range []struct {
		lines []string
		want  string
	}{
		{[]string{`save "900 1 300 10"`}, "900 1 300 10"},
		{[]string{"save 900 1", "save 300 10"}, "900 1 300 10"},
		{[]string{`save ""`}, ""},
		{[]string{"save 900 1", `save ""`, "save 60 1000"}, "60 1000"},
	} {
		assert.Equal(t, []ConfigEntry{{Key: "save", Value: tt.want}}, configEntries(tt.lines),
			"%q: CONFIG GET save reports every save line as one value", tt.lines)
	}
}

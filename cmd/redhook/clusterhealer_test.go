package main

import (
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redhook/redhook/healer/rediscluster"
	"github.com/redhook/redhook/hooks"
)

func TestClusterHealerTracksAndForgets(t *testing.T) {
	h := rediscluster.New(rediscluster.Config{}, zerolog.Nop())
	c := newClusterHealer(h, time.Minute)
	now := time.Date(2026, 11, 30, 5, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return now }
	held := hooks.ClusterTopology{Namespace: "ns", Name: "c", Held: true}
	c.TrackCluster(held)
	assert.Empty(t, c.last, "a held topology of a RedisCluster never seen whole is not tracked")
	c.TrackCluster(hooks.ClusterTopology{Namespace: "ns", Name: "c", NumberOfMaster: 3})
	require.Contains(t, c.last, "ns/c")
	assert.False(t, c.ClusterReport("ns/c").Known(), "no pass yet: unknown")
	now = now.Add(59 * time.Second)
	c.forgetStale()
	assert.Contains(t, c.last, "ns/c", "synced within forgetAfter")
	now = now.Add(time.Second)
	c.forgetStale()
	assert.NotContains(t, c.last, "ns/c")
	assert.NotContains(t, c.synced, "ns/c")
}

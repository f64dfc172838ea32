package main

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/redhook/redhook/healer/rediscluster"
	"github.com/redhook/redhook/hooks"
)

// clusterHealer plugs the Redis Cluster healer (healer/rediscluster) into the hook server: it
// turns the ClusterTopology of each /sync-cluster into the healer's Topology and the healer's
// Report into the ClusterReport the next sync reads. A RedisCluster that is not synced for
// forgetAfter (deleted, or its CompositeController gone) is forgotten: its connections close.
type clusterHealer struct {
	h           *rediscluster.Healer
	forgetAfter time.Duration
	now         func() time.Time

	mu     sync.Mutex
	last   map[string]rediscluster.Topology // the last topology that was not held, by key
	synced map[string]time.Time
}

func newClusterHealer(h *rediscluster.Healer, forgetAfter time.Duration) *clusterHealer {
	return &clusterHealer{h: h, forgetAfter: forgetAfter, now: time.Now,
		last: map[string]rediscluster.Topology{}, synced: map[string]time.Time{}}
}

// TrackCluster hands the healer a RedisCluster's topology. A held one (invalid spec, missing
// Secret) carries only its pods: the healer goes on with the rest of the last good one, and
// does nothing for a RedisCluster it never had a good topology of.
func (c *clusterHealer) TrackCluster(t hooks.ClusterTopology) {
	c.mu.Lock()
	c.synced[t.Key()] = c.now()
	prev, known := c.last[t.Key()]
	c.mu.Unlock()
	if t.Held && !known {
		return
	}
	topo := rediscluster.FromSync(t, prev)
	c.mu.Lock()
	c.last[t.Key()] = topo
	c.mu.Unlock()
	c.h.Track(topo)
}

// ClusterReport is the healer's latest report of the RedisCluster key (namespace/name) as the
// sync reads it; unknown before the first pass.
func (c *clusterHealer) ClusterReport(key string) hooks.ClusterReport {
	ns, name, _ := strings.Cut(key, "/")
	return c.h.Report(ns, name).ForSync()
}

// forgetLoop forgets the RedisClusters not synced for forgetAfter, checking every minute, until
// ctx ends.
func (c *clusterHealer) forgetLoop(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.forgetStale()
	}
}

// forgetStale forgets the RedisClusters not synced for forgetAfter.
func (c *clusterHealer) forgetStale() {
	c.mu.Lock()
	var stale []string
	for key, at := range c.synced {
		if c.now().Sub(at) >= c.forgetAfter {
			stale = append(stale, key)
			delete(c.synced, key)
			delete(c.last, key)
		}
	}
	c.mu.Unlock()
	for _, key := range stale {
		ns, name, _ := strings.Cut(key, "/")
		c.h.Forget(ns, name)
	}
}

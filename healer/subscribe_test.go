package healer

import (
	"fmt"
	"testing"
	"time"

	"github.com/redhook/redhook/healer/redistest"
	"github.com/redhook/redhook/hooks"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFailoverTarget(t *testing.T) {
	tp := hooks.Topology{MasterName: "mymaster", RedisPort: 6379, Redis: []hooks.PodRef{
		{Name: "rfr-a-0", IP: "10.0.0.10"}, {Name: "rfr-a-1", IP: "10.0.0.11"}, {Name: "rfr-a-2", IP: "10.0.0.12"}}}
	tests := []struct {
		msg  string
		want string // "" when no failover of this RedisFailover
	}{
		{"mymaster 10.0.0.10 6379 10.0.0.11 6379", "10.0.0.11:6379"},
		{"mymaster 127.0.0.1 6379 10.0.0.11 6379", ""}, // a restarted sentinel catching up
		{"mymaster 10.0.0.99 6379 10.0.0.11 6379", ""}, // not a pod of ours
		{"mymaster 10.0.0.10 7000 10.0.0.11 6379", ""}, // not the redis port
		{"other 10.0.0.10 6379 10.0.0.11 6379", ""},    // another master name
		{"mymaster 10.0.0.10 6379", ""},                // malformed
	}
	for _, tt := range tests {
		got, ok := failoverTarget(tp, tt.msg)
		assert.Equal(t, tt.want, got, tt.msg)
		assert.Equal(t, tt.want != "", ok, tt.msg)
	}
}

// TestNoSubscriptionToSilentSentinels: sentinels that no pass reaches (nothing listens on their
// loopback addresses) get no subscription, so no goroutine per pod retries its dial; the passes
// back off instead.
func TestNoSubscriptionToSilentSentinels(t *testing.T) {
	p := startPool(t)
	tp := silentTopology("silent", 2, 3)
	p.Track(tp)
	redistest.WaitFor(t, 10*time.Second, "two passes", func() error {
		if n := p.metric(t, "redhook_healer_passes_total", "result", "error"); n < 2 {
			return fmt.Errorf("%v passes", n)
		}
		return nil
	})
	r := p.Report(tp.Key())
	require.Len(t, r.Sentinels, 3)
	for _, s := range r.Sentinels {
		require.False(t, s.Reachable, s.Pod)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	assert.Empty(t, p.entries[tp.Key()].subs, "no subscription to a sentinel that did not answer")
}

// silentTopology is a RedisFailover whose pods have loopback addresses nothing listens on.
func silentTopology(name string, redis, sentinels int) hooks.Topology {
	tp := hooks.Topology{Namespace: "test", Name: name, MasterName: "mymaster", RedisPort: 6379,
		SentinelPort: 26379, SentinelsEnabled: true, Quorum: 2, RedisReplicas: int32(redis), SentinelReplicas: int32(sentinels)}
	for i := range redis {
		tp.Redis = append(tp.Redis, hooks.PodRef{Name: fmt.Sprintf("rfr-%s-%d", name, i), IP: fmt.Sprintf("127.0.99.%d", 10+i), Ordinal: i, Ready: true})
	}
	for i := range sentinels {
		tp.Sentinels = append(tp.Sentinels, hooks.PodRef{Name: fmt.Sprintf("rfs-%s-%d", name, i), IP: fmt.Sprintf("127.0.99.%d", 20+i), Ready: true})
	}
	return tp
}

package healer

import (
	"fmt"
	"testing"
	"time"

	"github.com/redhook/redhook/healer/redistest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestIntegrationTwentyFailovers: one pool tracks 20 fresh RedisFailovers (2 redis + 3
// sentinels each, 100 processes) at once; every one converges and its report says so.
func TestIntegrationTwentyFailovers(t *testing.T) {
	const n = 20
	var clusters []*redistest.Cluster
	for i := 0; i < n; i++ {
		clusters = append(clusters, redistest.NewCluster(t, fmt.Sprintf("many%02d", i), redistest.Options{Redis: 2, Sentinels: 3}))
	}
	p := startPool(t)
	start := time.Now()
	for _, c := range clusters {
		p.Track(topology(c))
	}
	var slowest time.Duration
	for _, c := range clusters {
		waitConverged(t, p, c, 60*time.Second)
		slowest = time.Since(start)
	}
	t.Logf("%d RedisFailovers (2 redis + 3 sentinels each) converged after %v", n, slowest.Round(time.Millisecond))
	for _, c := range clusters {
		r := p.Report(reportKey(c))
		require.NotNil(t, r.Master, c.Name)
		// All empty: the healer promotes the lowest ordinal it can reach (the tie-break itself is
		// table-tested in decision). Which pods answer the first pass depends on the machine's
		// load (100 processes start at once), so here only the promotion is checked.
		assert.True(t, hasAction(r, "promote "+r.Master.Pod, "no master"), "%s:\n%s", c.Name, actionLog(r))
		if r.Master.Pod != c.Redis[0].Name {
			t.Logf("%s: %s was promoted; %s did not answer the first pass", c.Name, r.Master.Pod, c.Redis[0].Name)
		}
		assert.Empty(t, r.Errors, c.Name)
		assert.False(t, r.FailoverInProgress, c.Name)
		require.Len(t, r.Redis, 2, c.Name)
		for _, ro := range r.Redis {
			assert.True(t, ro.InSync(r.Master) || ro.Pod == r.Master.Pod, "%s: %s in sync: %+v", c.Name, ro.Pod, ro)
		}
		require.Len(t, r.Sentinels, 3, c.Name)
		for _, s := range r.Sentinels {
			assert.True(t, s.Agrees(r.Master), "%s: %s monitors %s", c.Name, s.Pod, s.MasterIP)
		}
		assert.Equal(t, 1.0, p.metric(t, "redhook_redisfailover_master_known", "name", c.Name), c.Name)
		assert.Equal(t, 3.0, p.metric(t, "redhook_redisfailover_sentinels_agreeing", "name", c.Name), c.Name)
	}
	assert.Equal(t, float64(n), p.metric(t, "redhook_healer_tracked", "", ""))
}

package healer

import (
	"fmt"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestIntegrationConfirmedWritesSurviveFailover sets up the loss of writes confirmed by
// WAIT 1 (it does not reproduce it reliably on the code before rules 12 and 13: the lagging
// replica answers Sentinel's pending INFO as soon as it is continued): one replica (the one Sentinel ranks first when offsets are equal: the lowest run id)
// is stopped with SIGSTOP while 20 MB of writes go on, so only the other replica confirms them;
// then the master is SIGKILLed and the lagging replica continued: it lacks most of them. Sentinel, on a stale view of the
// offsets, would promote the lagging replica and resynchronise the other from it. Rules 12 and
// 13 (and rule 11 for a master restarted at once) must make it promote the one with the data.
func TestIntegrationConfirmedWritesSurviveFailover(t *testing.T) {
	for _, tc := range []struct {
		name      string
		downAfter int
		restart   bool
	}{
		{name: "killed", downAfter: 1000},
		{name: "restarted", downAfter: 5000, restart: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, "lag"+tc.name, clusterOpts{redis: 3, sentinels: 3, downAfter: tc.downAfter})
			p := startPool(t)
			p.Track(c.topo)
			master := waitConverged(t, p, c, 15*time.Second)
			c.write(master, "base", 50, 2)

			var replicas []*proc
			runID := map[*proc]string{}
			for _, r := range c.redis {
				if r != master {
					info, err := c.info(r)
					require.NoError(t, err)
					replicas = append(replicas, r)
					runID[r] = info.RunID
				}
			}
			sort.Slice(replicas, func(i, j int) bool { return runID[replicas[i]] < runID[replicas[j]] })
			lagging, ahead := replicas[0], replicas[1]
			time.Sleep(1500 * time.Millisecond) // every sentinel has read both replicas at equal offsets

			// 20 MB while the lagging replica is stopped: more than the loopback socket buffers
			// hold, so most of it is still in the master's output buffer when it dies.
			lagging.signal(syscall.SIGSTOP)
			value := strings.Repeat("x", 64<<10)
			var confirmed []string
			for i := 0; i < 320; i++ {
				key := fmt.Sprintf("acked:%d", i)
				require.NoError(t, c.do(master, "SET", key, value).Error())
				if n, err := c.do(master, "WAIT", "1", "500").AsInt64(); err == nil && n >= 1 {
					confirmed = append(confirmed, key)
				}
			}
			require.NotEmpty(t, confirmed, "the replica that runs confirms the writes")
			master.kill()
			lagging.signal(syscall.SIGCONT)
			skip := []*proc{master}
			if tc.restart {
				time.Sleep(time.Second)
				master.wipe()
				master.start()
				skip = nil
			}
			newMaster := waitConverged(t, p, c, 30*time.Second, skip...)
			require.NotEqual(t, master, newMaster)
			t.Logf("%d writes confirmed while %s was stopped; %s promoted (%s held them)",
				len(confirmed), lagging.name, newMaster.name, ahead.name)
			assert.Empty(t, c.missing(newMaster, confirmed), "confirmed writes missing on the new master %s", newMaster.name)
			assert.Equal(t, ahead, newMaster, "the replica with the data is promoted")
			r := p.Report(c.topo.Key())
			t.Logf("last actions:\n%s", actionLog(r))
		})
	}
}

package healer

import (
	"context"
	"fmt"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/redhook/redhook/healer/decision"
	"github.com/redhook/redhook/healer/redistest"
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
		downAfter time.Duration
		restart   bool
	}{
		{name: "killed", downAfter: time.Second},
		{name: "restarted", downAfter: 5 * time.Second, restart: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := redistest.NewCluster(t, "lag"+tc.name, redistest.Options{Redis: 3, Sentinels: 3, DownAfter: tc.downAfter})
			p := startPool(t)
			p.Track(topology(c))
			master := waitConverged(t, p, c, 15*time.Second)
			write(t, master, "base", 50, 2)

			var replicas []*redistest.Proc
			runID := map[*redistest.Proc]string{}
			for _, r := range c.Redis {
				if r != master {
					info, err := redisInfo(r)
					require.NoError(t, err)
					replicas = append(replicas, r)
					runID[r] = info.RunID
				}
			}
			sort.Slice(replicas, func(i, j int) bool { return runID[replicas[i]] < runID[replicas[j]] })
			lagging, ahead := replicas[0], replicas[1]
			waitSentinelsSeeEqualOffsets(t, c, master, replicas)

			// 20 MB while the lagging replica is stopped: more than the loopback socket buffers
			// hold, so most of it is still in the master's output buffer when it dies.
			lagging.Signal(syscall.SIGSTOP)
			client, err := master.Client()
			require.NoError(t, err)
			w, err := redistest.NewWriter(client, redistest.WriterConfig{Prefix: "acked:", Size: 64 << 10, Count: 320,
				Wait: 500 * time.Millisecond, Timeout: 2 * time.Second, Pause: time.Microsecond})
			require.NoError(t, err)
			w.Run(context.Background()) // 320 writes of 64 KiB, each SET then WAIT 1 500
			n := w.Counts()
			require.Zero(t, n.Failed, "every SET succeeds on the running master")
			require.Positive(t, n.Confirmed, "the replica that runs confirms the writes")
			master.Kill()
			lagging.Signal(syscall.SIGCONT)
			skip := []*redistest.Proc{master}
			if tc.restart {
				time.Sleep(time.Second)
				master.Wipe()
				master.Start()
				skip = nil
			}
			newMaster := waitConverged(t, p, c, 30*time.Second, skip...)
			require.NotEqual(t, master, newMaster)
			t.Logf("%d writes confirmed while %s was stopped; %s promoted (%s held them)",
				n.Confirmed, lagging.Name, newMaster.Name, ahead.Name)
			newClient, err := newMaster.Client()
			require.NoError(t, err)
			loss, err := w.Verify(context.Background(), newClient)
			assert.Empty(t, firstKeys(loss.Confirmed), "confirmed writes missing on the new master %s (read errors: %v)",
				newMaster.Name, err)
			assert.Equal(t, ahead, newMaster, "the replica with the data is promoted")
			r := p.Report(reportKey(c))
			t.Logf("last actions:\n%s", actionLog(r))
		})
	}
}

// waitSentinelsSeeEqualOffsets waits until every sentinel has read the replicas at the master's
// offset (all the writes so far): from then on, only what happens next sets them apart.
func waitSentinelsSeeEqualOffsets(t *testing.T, c *redistest.Cluster, master *redistest.Proc, replicas []*redistest.Proc) {
	t.Helper()
	info, err := redisInfo(master)
	require.NoError(t, err)
	redistest.WaitFor(t, 15*time.Second, "every sentinel read the replicas at equal offsets", func() error {
		for _, s := range c.Sentinels {
			v, err := s.Do("SENTINEL", "REPLICAS", redistest.MasterName).ToAny()
			if err != nil {
				return fmt.Errorf("%s: %w", s.Name, err)
			}
			peers, err := decision.ParseSentinelPeers(v)
			if err != nil {
				return fmt.Errorf("%s: %w", s.Name, err)
			}
			offsets := map[string]int64{}
			for _, r := range peers {
				offsets[r.IP] = r.Offset
			}
			first := offsets[replicas[0].IP]
			for _, r := range replicas {
				if got, ok := offsets[r.IP]; !ok || got < info.Offset || got != first {
					return fmt.Errorf("%s reads %s at offset %d (known %v), want %d and the others' offset %d",
						s.Name, r.Name, got, ok, info.Offset, first)
				}
			}
		}
		return nil
	})
}

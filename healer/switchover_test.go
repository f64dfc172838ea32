package healer

import (
	"context"
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redhook/redhook/healer/decision"
	"github.com/redhook/redhook/healer/redistest"
	"github.com/redhook/redhook/hooks"
)

// TestIntegrationPlannedSwitchover: rule 14 on real processes. The topology says the master's
// pod is not on the StatefulSet's update revision while the others are (a rollout that has
// updated every other pod): the healer steers Sentinel to a replica, pauses writes on the master,
// lets the replica catch up, asks Sentinel for the failover and makes the old master a replica.
// Under a SET + WAIT 1 writer through Sentinel: no write acknowledged (confirmed or not) is lost,
// clients hear +switch-master, and once the old master's pod is updated too nothing more happens
// and the priorities go back to normal.
func TestIntegrationPlannedSwitchover(t *testing.T) {
	c := redistest.NewCluster(t, "switch", redistest.Options{Redis: 3, Sentinels: 3})
	p := startPool(t)
	tp := topology(c)
	p.Track(tp)
	old := waitConverged(t, p, c, 15*time.Second)
	waitSentinelsKnowReplicas(t, c, 2)

	switched := switchMessages(t, c)
	w, client, stopWriting := startWaitWriter(t, c, "sw-")

	tp.Redis = slices.Clone(tp.Redis) // the pool holds the tracked one
	for i := range tp.Redis {
		tp.Redis[i].Outdated = tp.Redis[i].Name == old.Name
	}
	start := time.Now()
	p.Track(tp)
	master, took := waitNewMaster(t, p, c, old, 20*time.Second)
	select {
	case m := <-switched:
		assert.Contains(t, m, " "+old.IP+" 6379 "+master.IP+" 6379")
	case <-time.After(10 * time.Second):
		t.Error("no +switch-master within 10 s")
	}
	r := p.Report(reportKey(c))
	assert.True(t, hasAction(r, "switchover "+old.Name+" to "+master.Name, "rollout"), actionLog(r))

	// The old master's pod is updated: nothing more to do, normal priorities again.
	tp.Redis = slices.Clone(tp.Redis)
	for i := range tp.Redis {
		tp.Redis[i].Outdated = false
	}
	p.Track(tp)
	redistest.WaitFor(t, 10*time.Second, "replica-priority 100 everywhere", func() error {
		for _, n := range c.Redis {
			v, err := n.Do("CONFIG", "GET", "replica-priority").ToAny()
			if err != nil {
				return err
			}
			if s := fmt.Sprint(v); s != "[replica-priority 100]" && s != "map[replica-priority:100]" {
				return fmt.Errorf("%s: %s", n.Name, s)
			}
		}
		return nil
	})
	time.Sleep(time.Second)
	stopWriting()
	loss, err := w.Verify(context.Background(), client)
	require.NoError(t, err)
	counts := w.Counts()
	t.Logf("planned switchover %s → %s: agreed and reported after %v; writes %+v, longest gap %v; took %v in all",
		old.Name, master.Name, took, counts, w.LongestGap().Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	assert.Empty(t, loss.Confirmed, "confirmed writes lost")
	assert.Empty(t, loss.Unconfirmed, "acknowledged writes lost")
	assert.Positive(t, counts.Confirmed)
	m, err := converged(c)
	require.NoError(t, err)
	assert.Equal(t, master, m, "one switchover, no other failover")
	info, err := redisInfo(old)
	require.NoError(t, err)
	assert.Equal(t, hooks.RoleReplica, info.Role)
}

// TestIntegrationTerminatingMasterSwitchover: the master's pod is terminating (deleted, evicted):
// the healer switches over at once to the replica a sentinel would pick, without steering the
// priorities first, and loses no write under a SET + WAIT 1 writer through Sentinel.
func TestIntegrationTerminatingMasterSwitchover(t *testing.T) {
	c := redistest.NewCluster(t, "term", redistest.Options{Redis: 3, Sentinels: 3})
	p := startPool(t)
	tp := topology(c)
	p.Track(tp)
	old := waitConverged(t, p, c, 15*time.Second)
	waitSentinelsKnowReplicas(t, c, 2)

	w, client, stopWriting := startWaitWriter(t, c, "term-")

	tp.Redis = slices.Clone(tp.Redis) // the pool holds the tracked one
	for i := range tp.Redis {
		tp.Redis[i].Terminating = tp.Redis[i].Name == old.Name
	}
	p.Track(tp)
	master, took := waitNewMaster(t, p, c, old, 10*time.Second)
	r := p.Report(reportKey(c))
	assert.True(t, hasAction(r, "switchover "+old.Name+" to "+master.Name, "is terminating"), actionLog(r))
	assert.False(t, hasAction(r, "replica-priority", ""), "no steering:\n%s", actionLog(r))
	info, err := redisInfo(old)
	require.NoError(t, err)
	assert.Equal(t, hooks.RoleReplica, info.Role)
	time.Sleep(time.Second)
	stopWriting()
	loss, err := w.Verify(context.Background(), client)
	require.NoError(t, err)
	t.Logf("terminating master %s → %s: reported after %v; writes %+v, longest gap %v",
		old.Name, master.Name, took.Round(time.Millisecond), w.Counts(), w.LongestGap().Round(time.Millisecond))
	assert.Empty(t, loss.Confirmed, "confirmed writes lost")
	assert.Empty(t, loss.Unconfirmed, "acknowledged writes lost")
}

// TestIntegrationSwitchoverFollowsFailoverInProgress: a failover of the master is under way
// already when the switchover asks for its own (the preStop hook of the master's terminating pod
// asked first): SENTINEL FAILOVER answers INPROG, and the switchover follows that failover — the
// old master becomes a replica of the promoted one and its writes resume — instead of failing
// with the writes left paused.
func TestIntegrationSwitchoverFollowsFailoverInProgress(t *testing.T) {
	c := redistest.NewCluster(t, "inprog", redistest.Options{Redis: 2, Sentinels: 1, Replicated: true})
	tp := topology(c)
	waitSentinelsKnowReplicas(t, c, 1)
	master, target := c.Redis[0], c.Redis[1]
	waitLinksUp(t, target)
	cs := newConns(300*time.Millisecond, time.Second, 100*time.Millisecond)
	defer cs.closeAll()
	// Sentinel needs at least one tick (up to 100 ms) before it promotes: the switchover pauses
	// and sees the target caught up before that.
	// NOGOODSLAVE until the sentinel has read the replica.
	redistest.WaitFor(t, 15*time.Second, "SENTINEL FAILOVER accepted", func() error {
		return c.Sentinels[0].Do("SENTINEL", "FAILOVER", redistest.MasterName).Error()
	})
	err := switchover(context.Background(), tp, cs, decision.Switchover{Master: tp.Redis[0].Name, Target: tp.Redis[1].Name,
		Sentinel: tp.Sentinels[0].Name, Terminating: true})
	require.NoError(t, err)
	info, err := redisInfo(master)
	require.NoError(t, err)
	assert.Equal(t, hooks.RoleReplica, info.Role)
	assert.Equal(t, target.IP, info.MasterHost)
	// Unpaused: a write to the old master is refused at once (READONLY), not held.
	start := time.Now()
	err = master.Do("SET", "k", "v").Error()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "READONLY")
	assert.Less(t, time.Since(start), time.Second)
}

// TestIntegrationClaimHandOver: the claim pauses the writes of a master whose writes are not
// paused; on one paused by someone else (the preStop hook of its pod handing over) it gives up
// within its bound, and the transaction it left waiting is dropped: once the other party
// resumes the writes, nothing pauses them again.
func TestIntegrationClaimHandOver(t *testing.T) {
	c := redistest.NewCluster(t, "claim", redistest.Options{Redis: 1, Replicated: true})
	n := c.Redis[0]
	ctx := context.Background()
	writeWithin := func(limit time.Duration) error {
		cl, err := redistest.NewClient(n.Addr(), "")
		require.NoError(t, err)
		defer cl.Close()
		wctx, cancel := context.WithTimeout(ctx, limit)
		defer cancel()
		return cl.Do(wctx, cl.B().Set().Key("k").Value("v").Build()).Error()
	}
	require.NoError(t, writeWithin(time.Second))

	require.NoError(t, claimHandOver(ctx, n.Addr(), "", time.Second, time.Second))
	require.Error(t, writeWithin(300*time.Millisecond), "the claim paused the writes")
	require.NoError(t, n.Do("CLIENT", "UNPAUSE").Error())

	// Paused by someone else: the claim gives up.
	require.NoError(t, n.Do("CLIENT", "PAUSE", "5000", "WRITE").Error())
	start := time.Now()
	err := claimHandOver(ctx, n.Addr(), "", time.Second, time.Second)
	require.ErrorIs(t, err, errPausedAlready)
	assert.Less(t, time.Since(start), time.Second)
	require.NoError(t, n.Do("CLIENT", "UNPAUSE").Error())
	time.Sleep(100 * time.Millisecond)
	require.NoError(t, writeWithin(time.Second), "the dropped claim paused nothing")
}

// startWaitWriter starts a SET + WAIT 1 writer through a Sentinel-aware client of c and lets it
// write for 500 ms; stop ends it. The client stays open until the test ends, to read back.
func startWaitWriter(t *testing.T, c *redistest.Cluster, prefix string) (w *redistest.Writer, client rueidis.Client, stop func()) {
	t.Helper()
	client, err := redistest.NewSentinelClient([]string{c.Sentinels[1].Addr()}, redistest.MasterName, "", "")
	require.NoError(t, err)
	t.Cleanup(client.Close)
	w, err = redistest.NewWriter(client, redistest.WriterConfig{Prefix: prefix, Wait: 500 * time.Millisecond, Timeout: time.Second})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	writing := make(chan struct{})
	go func() { w.Run(ctx); close(writing) }()
	stop = func() {
		cancel()
		<-writing
	}
	t.Cleanup(stop)
	time.Sleep(500 * time.Millisecond)
	return w, client, stop
}

// TestIntegrationSwitchoverRepointsReplicas: once the target is master, the switchover makes the
// old master's other replicas follow it at once, not when Sentinel gets to it (after its next
// INFO of the new master, once a second during a failover): the old master's pod shuts its
// process down right after a hand-over, and the new master would have no replica to acknowledge
// WAIT meanwhile.
func TestIntegrationSwitchoverRepointsReplicas(t *testing.T) {
	c := redistest.NewCluster(t, "repoint", redistest.Options{Redis: 3, Sentinels: 1, Replicated: true})
	tp := topology(c)
	waitSentinelsKnowReplicas(t, c, 2)
	master, target, other := c.Redis[0], c.Redis[1], c.Redis[2]
	waitLinksUp(t, target, other)
	// Sentinel must pick the target: the other replica may not be promoted, and the sentinel
	// reads that within 100 ms.
	require.NoError(t, other.Do("CONFIG", "SET", "replica-priority", "0").Error())
	require.NoError(t, c.Sentinels[0].Do("SENTINEL", "DEBUG", "info-period", "100").Error())
	time.Sleep(500 * time.Millisecond)
	cs := newConns(300*time.Millisecond, time.Second, 100*time.Millisecond)
	defer cs.closeAll()
	redistest.WaitFor(t, 10*time.Second, "the switchover", func() error {
		return switchover(context.Background(), tp, cs, decision.Switchover{Master: tp.Redis[0].Name, Target: tp.Redis[1].Name,
			Sentinel: tp.Sentinels[0].Name})
	})
	info, err := redisInfo(other)
	require.NoError(t, err)
	assert.Equal(t, target.IP, info.MasterHost, "the other replica follows the new master")
	info, err = redisInfo(master)
	require.NoError(t, err)
	assert.Equal(t, target.IP, info.MasterHost, "the old master follows the new master")
}

// waitLinksUp waits until each replica's link to its master is up and no full synchronisation
// runs: a replica still loading its first copy cannot catch up with a paused master.
func waitLinksUp(t *testing.T, replicas ...*redistest.Proc) {
	t.Helper()
	for _, r := range replicas {
		redistest.WaitFor(t, 10*time.Second, r.Name+" in sync", func() error {
			info, err := redisInfo(r)
			if err == nil && (!info.LinkUp || info.Syncing) {
				err = fmt.Errorf("link up %v, syncing %v", info.LinkUp, info.Syncing)
			}
			return err
		})
	}
}

// TestIntegrationSwitchoverFindsSentinelsPick: Sentinel promotes another replica than the
// switchover's target (a lower replica-priority): the switchover finds the promoted replica by
// its own INFO (role:master, continuing the old master's history), not by waiting until a
// sentinel names it, which takes the sentinel's next INFO of it (once a second during a
// failover). The sentinel is stopped right after it promoted the replica, so that it names
// nothing new: only the replica's own answer tells.
func TestIntegrationSwitchoverFindsSentinelsPick(t *testing.T) {
	c := redistest.NewCluster(t, "pick", redistest.Options{Redis: 3, Sentinels: 1, Replicated: true})
	tp := topology(c)
	waitSentinelsKnowReplicas(t, c, 2)
	master, target, pick := c.Redis[0], c.Redis[1], c.Redis[2]
	sentinel := c.Sentinels[0]
	waitLinksUp(t, target, pick)
	require.NoError(t, pick.Do("CONFIG", "SET", "replica-priority", "1").Error())
	require.NoError(t, sentinel.Do("SENTINEL", "DEBUG", "info-period", "100").Error())
	time.Sleep(500 * time.Millisecond) // the sentinel reads the priority
	// Back to the default: the sentinel reads the promoted replica once a second during the
	// failover, which leaves the test time to stop it first.
	require.NoError(t, sentinel.Do("SENTINEL", "DEBUG", "info-period", "10000").Error())

	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if info, err := redisInfo(pick); err == nil && info.Role == hooks.RoleMaster {
				sentinel.Signal(syscall.SIGSTOP)
				return
			}
		}
	}()
	t.Cleanup(func() { sentinel.Signal(syscall.SIGCONT) })
	cs := newConns(300*time.Millisecond, time.Second, 100*time.Millisecond)
	defer cs.closeAll()
	start := time.Now()
	err := switchover(context.Background(), tp, cs, decision.Switchover{Master: tp.Redis[0].Name, Target: tp.Redis[1].Name,
		Sentinel: tp.Sentinels[0].Name})
	took := time.Since(start)
	<-stopped
	require.NoError(t, err)
	t.Logf("switchover to Sentinel's pick: %v from the pause to the old master's REPLICAOF and the target's", took)
	for _, n := range []*redistest.Proc{master, target} {
		info, err := redisInfo(n)
		require.NoError(t, err)
		assert.Equal(t, hooks.RoleReplica, info.Role, n.Name)
		assert.Equal(t, pick.IP, info.MasterHost, "%s follows the replica Sentinel promoted", n.Name)
	}
}

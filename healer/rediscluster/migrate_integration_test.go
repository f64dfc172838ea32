package rediscluster

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redhook/redhook/healer/redistest"
	"github.com/redis/rueidis"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHalfMigratedSlotIsFinished leaves a slot half-moved, as a healer that died in the middle
// of a move would (IMPORTING on the target, MIGRATING on the source, half of the keys moved),
// and checks that the healer finishes that move first, keeping the keys already moved where
// they are, and loses no key.
func TestHalfMigratedSlotIsFinished(t *testing.T) {
	h, logs := startHealerLog(t)
	c, _ := bootstrap(t, h, "half", 2, 1, "s3cret")
	src, dst := c.Shards[0][0], c.Shards[1][0]
	srcState, err := nodeState(src)
	require.NoError(t, err)
	dstState, err := nodeState(dst)
	require.NoError(t, err)
	// 200 keys of one slot of shard 0: the first hash tag that hashes into its part.
	tag, slot := "", int64(-1)
	for c := 'a'; c <= 'z' && tag == ""; c++ {
		n, err := src.Do("CLUSTER", "KEYSLOT", "{"+string(c)+"}").AsInt64()
		require.NoError(t, err)
		if n < int64(Shares(2)[0]) {
			tag, slot = "{"+string(c)+"}", n
		}
	}
	require.NotEmpty(t, tag)
	for i := range 200 {
		require.NoError(t, src.Do("SET", fmt.Sprintf("%s%d", tag, i), strconv.Itoa(i)).Error())
	}
	s := strconv.FormatInt(slot, 10)
	require.NoError(t, dst.Do("CLUSTER", "SETSLOT", s, "IMPORTING", srcState.ID).Error())
	require.NoError(t, src.Do("CLUSTER", "SETSLOT", s, "MIGRATING", dstState.ID).Error())
	keys := []string{"MIGRATE", dst.IP, "6379", "", "0", "5000", "AUTH2", "default", "s3cret", "KEYS"}
	for i := range 100 {
		keys = append(keys, fmt.Sprintf("%s%d", tag, i))
	}
	require.NoError(t, src.Do(keys...).Error())

	// The healer sees the markers and finishes the move to dst; then the balance (one slot
	// more on shard 1) is restored by moving shard 1's highest slot back.
	redistest.WaitFor(t, 30*time.Second, "half-moved slot finished and cluster balanced", func() error { return converged(c, 2) })
	r := h.Report("test", "half")
	assert.Zero(t, r.SlotsMigrating)
	finished := false
	for _, a := range r.LastActions {
		if strings.HasPrefix(a.Action, "finish moving 1 slots "+s+" from "+src.Name+" to "+dst.Name) {
			finished = true
		}
	}
	assert.True(t, finished, "the half-moved slot is finished towards its target: %v", r.LastActions)
	n, err := dst.Do("CLUSTER", "COUNTKEYSINSLOT", s).AsInt64()
	require.NoError(t, err)
	assert.Equal(t, int64(200), n, "every key of the slot on the target")
	assert.NotContains(t, logs.String(), "s3cret", "the password (sent in MIGRATE's AUTH2) is never logged")
	client := c.ClusterClient(t)
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 200 {
		v, err := client.Do(ctx, client.B().Get().Key(fmt.Sprintf("%s%d", tag, i)).Build()).ToString()
		require.NoError(t, err)
		assert.Equal(t, strconv.Itoa(i), v)
	}
}

// migrationRate forms 2 shards of one master, loads keys of size bytes, adds a third shard and
// returns what the healer's slot moves did to balance it.
func migrationRate(t testing.TB, name string, keys, size int) Report {
	h := startHealer(t)
	c, _ := bootstrap(t, h, name, 2, 1, "")
	loadValues(t, c, keys, size)
	c.AddShard()
	h.Track(topologyOf(c, 3))
	redistest.WaitFor(t, 5*time.Minute, "3 shards balanced", func() error { return converged(c, 3) })
	return h.Report("test", name)
}

// loadValues writes n keys "v:<i>" of size bytes through the cluster client.
func loadValues(t testing.TB, c *redistest.Sharded, n, size int) {
	t.Helper()
	client := c.ClusterClient(t)
	defer client.Close()
	value := strings.Repeat("x", size)
	for i := 0; i < n; i += 1000 {
		cmds := make([]rueidis.Completed, 0, 1000)
		for j := i; j < min(i+1000, n); j++ {
			cmds = append(cmds, client.B().Set().Key("v:"+strconv.Itoa(j)).Value(value).Build())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		for _, r := range client.DoMulti(ctx, cmds...) {
			if err := r.Error(); err != nil {
				cancel()
				t.Fatalf("load: %v", err)
			}
		}
		cancel()
	}
}

// TestSlotMigrationRate prints the rate of the healer's slot moves during a scale-out 2→3 with
// 100 000 keys of 100 bytes (about 6 keys per slot). It fails only when the cluster does not
// converge, never on time.
func TestSlotMigrationRate(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 100 000 keys and moves a third of them")
	}
	r := migrationRate(t, "rate", 100000, 100)
	t.Logf("scale-out 2→3: %d slots and %d keys moved in %v: %.0f keys/s, %.0f slots/s",
		r.SlotsMoved, r.KeysMoved, r.MoveTime.Round(time.Millisecond), float64(r.KeysMoved)/r.MoveTime.Seconds(),
		float64(r.SlotsMoved)/r.MoveTime.Seconds())
	assert.Equal(t, int64(Shares(3)[2]), r.SlotsMoved)
	assert.InDelta(t, 100000.0/3, float64(r.KeysMoved), 2000)
}

// BenchmarkSlotMigration reports keys/s and slots/s of the slot moves of a scale-out 2→3 with
// 100 000 keys of 100 bytes. It reports, it never fails on time.
func BenchmarkSlotMigration(b *testing.B) {
	for b.Loop() {
		r := migrationRate(b, fmt.Sprintf("bench%d", b.N), 100000, 100)
		b.ReportMetric(float64(r.KeysMoved)/r.MoveTime.Seconds(), "keys/s")
		b.ReportMetric(float64(r.SlotsMoved)/r.MoveTime.Seconds(), "slots/s")
	}
}

// TestMoveStopsWhenAThirdNodeOwnsTheSlot: a move planned from a stale snapshot (the source
// does not own the slot, a third master does) must stop after "not the owner" from the source,
// never SETSLOT NODE the slot to the target: the third node's keys would be lost.
func TestMoveStopsWhenAThirdNodeOwnsTheSlot(t *testing.T) {
	h := startHealer(t)
	c, _ := bootstrap(t, h, "third", 3, 1, "")
	h.Forget("test", "third") // the healer leaves the cluster alone from here
	src, dst, owner := c.Shards[0][0], c.Shards[1][0], c.Shards[2][0]
	ids := map[*redistest.Proc]string{}
	for _, p := range []*redistest.Proc{src, dst, owner} {
		st, err := nodeState(p)
		require.NoError(t, err)
		ids[p] = st.ID
	}
	// A key in one of shard 2's slots.
	key, slot := "", int64(-1)
	for c := 'a'; c <= 'z' && key == ""; c++ {
		n, err := owner.Do("CLUSTER", "KEYSLOT", string(c)).AsInt64()
		require.NoError(t, err)
		if n >= int64(Shares(3)[0]+Shares(3)[1]) {
			key, slot = string(c), n
		}
	}
	require.NotEmpty(t, key)
	require.NoError(t, owner.Do("SET", key, "v").Error())

	top := topologyOf(c, 3)
	a := &applier{t: top, c: newConns(time.Second, 2*time.Second), timeout: 2 * time.Second,
		mig: migrateConfig{Batch: 100, Timeout: time.Second}}
	t.Cleanup(a.c.closeAll)
	for _, p := range c.Procs() {
		if st, err := nodeState(p); err == nil && st.isMaster() {
			a.masters = append(a.masters, p.Addr())
		}
	}
	_, err := a.migrateSlot(context.Background(), int(slot), src.Addr(), ids[src], dst.Addr(), ids[dst])
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not the owner")
	time.Sleep(500 * time.Millisecond) // gossip of a wrong SETSLOT NODE would have spread by now
	for _, p := range []*redistest.Proc{src, dst, owner} {
		st, err := nodeState(p)
		require.NoError(t, err)
		for _, l := range st.View {
			for _, r := range l.Slots {
				if int64(r.Start) <= slot && slot <= int64(r.End) {
					assert.Equal(t, ids[owner], l.ID, "%s sees slot %d at %s", p.Name, slot, l.ID)
				}
			}
		}
	}
	// MEMORY USAGE, for MIGRATE's byte bound, answers through the healer's connections.
	sizes := a.sizes(context.Background(), owner.Addr(), []string{key, "{" + key + "}missing", "{" + src.Name + "}"})
	assert.Greater(t, sizes[0], int64(0), "size of %s", key)
	assert.Equal(t, []int64{0, 0}, sizes[1:], "a missing key, or one of another node's slot, weighs nothing")
	v, err := owner.Do("GET", key).ToString()
	require.NoError(t, err)
	assert.Equal(t, "v", v)
}

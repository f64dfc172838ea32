package rediscluster

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redhook/redhook/healer/redistest"
	"github.com/redis/rueidis"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
)

// Integration tests: the healer against real redis-server processes in cluster mode on
// loopback (redistest.Sharded). Each test asserts the state of the processes themselves, read
// with the test's own clients.

// topologyOf describes c's running shards as the Kubernetes side would: shards below masters
// are active, the others leaving.
func topologyOf(c *redistest.Sharded, masters int) Topology {
	t := Topology{Namespace: "test", Name: c.Name, Password: c.Opts.Password, NumberOfMaster: masters,
		ReplicationFactor: c.Opts.PerShard - 1, NodeTimeout: c.Opts.NodeTimeout}
	for k, shard := range c.Shards {
		for i, p := range shard {
			// Updated as the hooks report a pod when no rollout runs: an outdated master on its
			// shard's last ordinal would be failed over (rule 7).
			t.Nodes = append(t.Nodes, Node{Pod: p.Name, IP: p.IP, Port: p.Port, Shard: k, Ordinal: i, Ready: p.Alive(), Updated: true})
		}
	}
	return t
}

// startHealer runs a healer with fast timings until the test ends; its log is printed when the
// test fails (or always with HEALER_TEST_LOG set).
func startHealer(t testing.TB) *Healer {
	t.Helper()
	h, _ := startHealerLog(t)
	return h
}

// startHealerLog is startHealer, with the healer's log.
func startHealerLog(t testing.TB) (*Healer, *redistest.SyncBuffer) {
	t.Helper()
	logs := redistest.CaptureLog(t, "healer")
	h := New(Config{Interval: 500 * time.Millisecond, FastInterval: 100 * time.Millisecond, MinBackoff: 100 * time.Millisecond,
		MaxBackoff: time.Second, DialTimeout: 300 * time.Millisecond, CommandTimeout: 2 * time.Second, MoveBudget: 5 * time.Second},
		zerolog.New(logs).With().Timestamp().Logger())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Error("healer did not stop within 10 s")
		}
		if !t.Failed() && os.Getenv("HEALER_TEST_LOG") != "" {
			t.Logf("healer log:\n%s", logs.String())
		}
	})
	return h, logs
}

// nodeState reads p as the healer does.
func nodeState(p *redistest.Proc) (NodeState, error) {
	st := NodeState{}
	id, err := p.Do("CLUSTER", "MYID").ToString()
	if err != nil {
		return st, err
	}
	st.ID = id
	text, err := p.Do("CLUSTER", "NODES").ToString()
	if err != nil {
		return st, err
	}
	if st.View, err = ParseClusterNodes(text); err != nil {
		return st, err
	}
	text, err = p.Do("CLUSTER", "INFO").ToString()
	if err != nil {
		return st, err
	}
	if st.Info, err = ParseClusterInfo(text); err != nil {
		return st, err
	}
	text, err = p.Do("INFO", "replication").ToString()
	if err != nil {
		return st, err
	}
	st.Repl, err = ParseReplication(text)
	return st, err
}

// converged checks, on the processes, that the shards below masters form a healthy cluster
// with every slot evenly split, and that every running process knows exactly the running
// processes of those shards (no stale or leaving node ID anywhere).
func converged(c *redistest.Sharded, masters int) error {
	shares := Shares(masters)
	var procs []*redistest.Proc
	for k := range masters {
		procs = append(procs, c.Shards[k]...)
	}
	ids := map[string]string{}
	states := map[string]NodeState{}
	for _, p := range procs {
		st, err := nodeState(p)
		if err != nil {
			return fmt.Errorf("%s: %w", p.Name, err)
		}
		ids[st.ID] = p.Name
		states[p.Name] = st
	}
	for _, p := range procs {
		st := states[p.Name]
		if st.Info.State != "ok" || st.Info.SlotsAssigned != NumSlots {
			return fmt.Errorf("%s: cluster_state %s, %d slots assigned", p.Name, st.Info.State, st.Info.SlotsAssigned)
		}
		if len(st.View) != len(procs) {
			return fmt.Errorf("%s knows %d nodes, want %d", p.Name, len(st.View), len(procs))
		}
		for _, l := range st.View {
			if _, ok := ids[l.ID]; !ok {
				return fmt.Errorf("%s knows node %s, which no running pod is", p.Name, l.ID)
			}
			if l.Fail || l.PFail || l.Handshake || l.NoAddr {
				return fmt.Errorf("%s sees %s (%s) failing or unknown", p.Name, ids[l.ID], l.ID)
			}
			if len(l.Migrating)+len(l.Importing) > 0 {
				return fmt.Errorf("%s: slots migrating %v, importing %v", p.Name, l.Migrating, l.Importing)
			}
		}
	}
	for k := range masters {
		var master NodeState
		masterPod := ""
		for _, p := range c.Shards[k] {
			self, _ := states[p.Name].Self()
			if self.Master {
				if masterPod != "" {
					return fmt.Errorf("shard %d has two masters, %s and %s", k, masterPod, p.Name)
				}
				master, masterPod = states[p.Name], p.Name
			}
		}
		if masterPod == "" {
			return fmt.Errorf("shard %d has no master", k)
		}
		self, _ := master.Self()
		if n := SlotCount(self.Slots); n != shares[k] {
			return fmt.Errorf("shard %d's master %s holds %d slots, want %d", k, masterPod, n, shares[k])
		}
		for _, p := range c.Shards[k] {
			if p.Name == masterPod {
				continue
			}
			st := states[p.Name]
			self, _ := st.Self()
			if !self.Replica || self.MasterID != master.ID || !st.Repl.LinkUp {
				return fmt.Errorf("%s is not an in-sync replica of its shard's master %s", p.Name, masterPod)
			}
		}
	}
	return nil
}

// procName is p's name, "" for nil: what assertions compare (a diff of two Procs would dump
// their processes and locks).
func procName(p *redistest.Proc) string {
	if p == nil {
		return ""
	}
	return p.Name
}

// shardMaster is the pod that is master of shard k, as the processes say.
func shardMaster(c *redistest.Sharded, k int) *redistest.Proc {
	for _, p := range c.Shards[k] {
		if st, err := nodeState(p); err == nil {
			if self, _ := st.Self(); self.Master && len(self.Slots) > 0 {
				return p
			}
		}
	}
	return nil
}

// loadKeys writes n keys prefix0..prefix(n-1) through the cluster client, in batches.
func loadKeys(t testing.TB, c *redistest.Sharded, prefix string, n int) {
	t.Helper()
	client := c.ClusterClient(t)
	defer client.Close()
	for i := 0; i < n; i += 500 {
		var cmds []string
		for j := i; j < min(i+500, n); j++ {
			cmds = append(cmds, fmt.Sprintf("%s%d", prefix, j))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		multi := client.B()
		cs := make([]rueidis.Completed, 0, len(cmds))
		for _, k := range cmds {
			cs = append(cs, multi.Set().Key(k).Value(k).Build())
		}
		for _, r := range client.DoMulti(ctx, cs...) {
			if err := r.Error(); err != nil {
				cancel()
				t.Fatalf("load keys: %v", err)
			}
		}
		cancel()
	}
}

// errorsOf formats a writer's errors.
func errorsOf(errs map[string]int) string {
	var b strings.Builder
	for e, n := range errs {
		fmt.Fprintf(&b, "%d× %s; ", n, e)
	}
	return b.String()
}

//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/redhook/redhook/healer/redistest"
)

// TestRedisCluster runs the RedisCluster example on the real cluster: 3 masters × 1 replica, a
// StatefulSet per shard, started empty and formed by the healer (MEET, ADDSLOTSRANGE,
// REPLICATE) until status says cluster_state ok with every slot assigned. Then, with a
// cluster-aware writer (rueidis follows MOVED and ASK) writing throughout:
//   - the master pod of shard 0 is deleted: its preStop hook hands the slots over to its replica
//     (CLUSTER FAILOVER) when it has an online one, and the pod comes back on its volume (the
//     example keeps nodes.conf and the data on a PVC); the shard is whole again (which node is
//     master, and the failed writes, are printed);
//   - numberOfMaster 3 → 4: a fourth shard, slots moved to it; then 4 → 3: its slots moved away,
//     its nodes forgotten, its StatefulSet deleted.
//
// Every key acknowledged during the scale steps must read back; the keys lost to the master's
// deletion (SET is asynchronous to the replica) are reported.
func TestRedisCluster(t *testing.T) {
	r := deploy(t, "rediscluster", filepath.Join(repoRoot(), "manifests", "examples", "cluster.yaml"))
	took := r.waitReady(5 * time.Minute)
	st := r.clusterStatus()
	t.Logf("RedisCluster Ready after %.1fs: %s", took.Seconds(), st)
	require.Equal(t, "ok", st.state)
	require.EqualValues(t, 16384, st.slots)
	require.Len(t, st.shards, 3)
	for _, s := range st.shards {
		require.NotEmpty(t, s.master, "shard %d has a master", s.index)
		require.Len(t, s.replicas, 1, "shard %d has one replica", s.index)
	}

	cl := r.clusterClient()
	ctx := t.Context()

	// The master of shard 0 deleted.
	w, stop := r.clusterWriter(cl, "kill-")
	stopWatch := r.watchClusterStates()
	time.Sleep(2 * time.Second)
	victim := st.shards[0].master
	before, err := r.c.client.Get(ctx, podGVK, r.ns, victim)
	require.NoError(t, err)
	deleted := time.Now()
	_, err = r.c.kubectl(ctx, "-n", r.ns, "delete", "pod", victim, "--wait=false")
	require.NoError(t, err)
	// Healed: the pod recreated and Ready, every slot served, shard 0 a master and a replica.
	// Which node is master depends on the hand-over: after it, the former replica; without it (a
	// master with no online replica), the restarted master on its volume keeps its slots.
	eventually(t, 3*time.Minute, "shard 0 healed after the deletion of "+victim, func() error {
		pod, err := r.c.client.Get(ctx, podGVK, r.ns, victim)
		if err != nil || pod.GetUID() == before.GetUID() {
			return fmt.Errorf("%s not recreated yet (%v)", victim, err)
		}
		if !podReady(pod) {
			return fmt.Errorf("%s not Ready", victim)
		}
		s := r.clusterStatus()
		if s.state != "ok" || s.slots != 16384 || len(s.shards) < 1 || s.shards[0].master == "" || len(s.shards[0].replicas) != 1 {
			return fmt.Errorf("%s", s)
		}
		return nil
	})
	healed := time.Since(deleted)
	r.waitReady(2 * time.Minute)
	stop()
	t.Logf("deletion: nodes whose cluster_state was not ok (seconds after the deletion):%s%s", describeStates(stopWatch(), w, deleted),
		r.lastActions(deleted))
	gap := w.LongestGap()
	loss, err := w.Verify(ctx, cl)
	require.NoError(t, err)
	n := w.Counts()
	how := "handed over by its preStop hook"
	if m := r.clusterStatus().shards[0].master; m == victim {
		how = "not handed over: the restarted master kept its slots"
	}
	t.Logf("master %s deleted (%s): shard 0 healed after %.1fs, master %s; longest gap between acknowledged writes %v; "+
		"writes acknowledged %d, failed %d (errors %s), acknowledged then lost %d (asynchronous replication)",
		victim, how, healed.Seconds(), r.clusterStatus().shards[0].master, gap.Round(time.Millisecond), n.Unconfirmed, n.Failed,
		topErrors(w.Errors(time.Time{}), 3), len(loss.Unconfirmed))

	// Scale out, then in, under writes: nothing acknowledged is lost.
	w, stop = r.clusterWriter(cl, "scale-")
	for _, step := range []struct{ masters int }{{4}, {3}} {
		from := time.Now()
		_, err := r.c.kubectl(ctx, "-n", r.ns, "patch", "rediscluster", r.name, "--type=merge", "-p",
			fmt.Sprintf(`{"spec":{"numberOfMaster":%d}}`, step.masters))
		require.NoError(t, err)
		eventually(t, 5*time.Minute, fmt.Sprintf("%d shards holding every slot", step.masters), func() error {
			s := r.clusterStatus()
			if s.state != "ok" || s.slots != 16384 || s.migrating != 0 || len(s.shards) != step.masters {
				return fmt.Errorf("%s", s)
			}
			for _, sh := range s.shards {
				if sh.slots == 0 || sh.master == "" || len(sh.replicas) != 1 {
					return fmt.Errorf("shard %d: %s", sh.index, s)
				}
			}
			if sets := r.statefulSets(); len(sets) != step.masters {
				return fmt.Errorf("StatefulSets %v", sets)
			}
			return nil
		})
		r.waitReady(2 * time.Minute)
		t.Logf("numberOfMaster %d: every slot served by %d shards after %.1fs: %s", step.masters, step.masters,
			time.Since(from).Seconds(), r.clusterStatus())
	}
	stop()
	loss, err = w.Verify(ctx, cl)
	require.NoError(t, err)
	n = w.Counts()
	t.Logf("scale 3 → 4 → 3: writes acknowledged %d, failed %d (errors %s), longest gap %v",
		n.Unconfirmed, n.Failed, topErrors(w.Errors(time.Time{}), 3), w.LongestGap().Round(time.Millisecond))
	assert.Zero(t, len(loss.Unconfirmed), "acknowledged writes lost during the scale, the first: %v",
		loss.Unconfirmed[:min(10, len(loss.Unconfirmed))])
	assert.Zero(t, n.Failed, "no write failed during the scale: %v", w.Errors(time.Time{}))

	// A rolling update of every shard (the pod template changed): per shard the replicas first,
	// the master's pod last, handed over by its preStop hook.
	w, stop = r.clusterWriter(cl, "roll-")
	stopWatch = r.watchClusterStates()
	stsGVK := schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "StatefulSet"}
	revisions := map[string]string{}
	for _, name := range r.statefulSets() {
		sts, err := r.c.client.Get(ctx, stsGVK, r.ns, name)
		require.NoError(t, err)
		revisions[name], _, _ = unstructured.NestedString(sts.Object, "status", "updateRevision")
	}
	from := time.Now()
	_, err = r.c.kubectl(ctx, "-n", r.ns, "patch", "rediscluster", r.name, "--type=merge", "-p",
		`{"spec":{"resources":{"requests":{"cpu":"50m"}}}}`)
	require.NoError(t, err)
	eventually(t, 8*time.Minute, "every shard rolled", func() error {
		for _, name := range r.statefulSets() {
			sts, err := r.c.client.Get(ctx, stsGVK, r.ns, name)
			if err != nil {
				return err
			}
			want, _, _ := unstructured.NestedInt64(sts.Object, "spec", "replicas")
			cur, _, _ := unstructured.NestedString(sts.Object, "status", "currentRevision")
			upd, _, _ := unstructured.NestedString(sts.Object, "status", "updateRevision")
			updated, _, _ := unstructured.NestedInt64(sts.Object, "status", "updatedReplicas")
			ready, _, _ := unstructured.NestedInt64(sts.Object, "status", "readyReplicas")
			if upd == revisions[name] {
				return fmt.Errorf("%s: the template change has not reached it (revision %s)", name, upd)
			}
			if cur != upd || updated != want || ready != want {
				return fmt.Errorf("%s: revision %s → %s, %d/%d updated, %d ready", name, cur, upd, updated, want, ready)
			}
		}
		s := r.clusterStatus()
		if s.state != "ok" || s.slots != 16384 || len(s.shards) != 3 {
			return fmt.Errorf("%s", s)
		}
		for _, sh := range s.shards {
			if sh.master == "" || len(sh.replicas) != 1 {
				return fmt.Errorf("shard %d: %s", sh.index, s)
			}
		}
		return nil
	})
	r.waitReady(2 * time.Minute)
	rolled := time.Since(from)
	stop()
	t.Logf("rolling update: nodes whose cluster_state was not ok (seconds after the patch):%s%s", describeStates(stopWatch(), w, from),
		r.lastActions(from))
	loss, err = w.Verify(ctx, cl)
	require.NoError(t, err)
	n = w.Counts()
	t.Logf("rolling update of 3 shards: %.1fs; writes acknowledged %d, failed %d (errors %s), longest gap %v; %s",
		rolled.Seconds(), n.Unconfirmed, n.Failed, topErrors(w.Errors(time.Time{}), 3), w.LongestGap().Round(time.Millisecond),
		r.clusterStatus())
	assert.Zero(t, len(loss.Unconfirmed), "acknowledged writes lost during the rolling update, the first: %v",
		loss.Unconfirmed[:min(10, len(loss.Unconfirmed))])
	noRejections(t, r.c, r.ns)
}

// clusterShard is one entry of status.shards.
type clusterShard struct {
	index    int64
	master   string
	replicas []string
	slots    int64
}

// clusterStatus is what a RedisCluster's status says of the cluster.
type clusterStatus struct {
	state            string
	slots, migrating int64
	shards           []clusterShard
}

func (s clusterStatus) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "state %q, %d slots assigned, %d migrating;", s.state, s.slots, s.migrating)
	for _, sh := range s.shards {
		fmt.Fprintf(&b, " shard %d: master %s replicas %v slots %d;", sh.index, sh.master, sh.replicas, sh.slots)
	}
	return b.String()
}

func (r *rfTest) clusterStatus() clusterStatus {
	r.t.Helper()
	o := r.get()
	var s clusterStatus
	s.state, _, _ = unstructured.NestedString(o.Object, "status", "clusterState")
	s.slots, _, _ = unstructured.NestedInt64(o.Object, "status", "slotsAssigned")
	s.migrating, _, _ = unstructured.NestedInt64(o.Object, "status", "slotsMigrating")
	shards, _, _ := unstructured.NestedSlice(o.Object, "status", "shards")
	for _, x := range shards {
		m, _ := x.(map[string]any)
		var sh clusterShard
		sh.index, _, _ = unstructured.NestedInt64(m, "index")
		sh.master, _, _ = unstructured.NestedString(m, "master")
		sh.replicas, _, _ = unstructured.NestedStringSlice(m, "replicas")
		sh.slots, _, _ = unstructured.NestedInt64(m, "slots")
		s.shards = append(s.shards, sh)
	}
	sort.Slice(s.shards, func(i, j int) bool { return s.shards[i].index < s.shards[j].index })
	return s
}

// statefulSets are the names of the StatefulSets in the test's namespace.
func (r *rfTest) statefulSets() []string {
	r.t.Helper()
	sets, err := r.c.client.List(r.t.Context(), schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "StatefulSet"}, r.ns, "")
	require.NoError(r.t, err)
	var names []string
	for _, s := range sets {
		names = append(names, s.GetName())
	}
	sort.Strings(names)
	return names
}

// clusterClient is a cluster-aware client of the RedisCluster, seeded with its pods' addresses
// (closed with the test).
func (r *rfTest) clusterClient() rueidis.Client {
	r.t.Helper()
	pods, err := r.c.client.List(r.t.Context(), podGVK, r.ns, "")
	require.NoError(r.t, err)
	var seeds []string
	for _, p := range pods {
		if ip, _, _ := unstructured.NestedString(p.Object, "status", "podIP"); ip != "" {
			seeds = append(seeds, net.JoinHostPort(ip, "6379"))
		}
	}
	require.NotEmpty(r.t, seeds)
	var cl rueidis.Client
	eventually(r.t, 30*time.Second, "connect to the cluster", func() (err error) {
		cl, err = rueidis.NewClient(rueidis.ClientOption{InitAddress: seeds, Password: r.password, DisableCache: true,
			ConnWriteTimeout: time.Second, Dialer: net.Dialer{Timeout: time.Second}})
		return err
	})
	r.t.Cleanup(cl.Close)
	return cl
}

// clusterWriter writes SETs through cl (no WAIT: it would go to one node of the cluster, not the
// key's) until stop.
func (r *rfTest) clusterWriter(cl rueidis.Client, prefix string) (*redistest.Writer, func()) {
	r.t.Helper()
	w, err := redistest.NewWriter(cl, redistest.WriterConfig{Prefix: prefix, Timeout: time.Second, Pause: 5 * time.Millisecond})
	require.NoError(r.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(ctx)
	}()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	r.t.Cleanup(stop)
	return w, stop
}

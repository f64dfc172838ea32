package healer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/redhook/redhook/healer/decision"
	"github.com/redhook/redhook/healer/redistest"
	"github.com/redhook/redhook/hooks"
	"github.com/redis/rueidis"
	"github.com/stretchr/testify/require"
)

// The integration tests run real redis-server and redis-sentinel processes with the harness
// healer/redistest (each cluster on a loopback subnet of its own, every process killed at the
// end of its test; the loopback trap is explained in docs/architecture.md, "Local mode"). This file
// holds what only the healer's tests need: the topology the healer gets for a cluster, and
// the checks of a converged cluster, read with the test's own clients.

// topology is the topology the healer gets for c, as NewTopology makes it from a RedisFailover
// and its pods: every pod ready, the settings of c's sentinel.conf (so that nothing drifts), no
// fencing (Sentinel mode).
func topology(c *redistest.Cluster) hooks.Topology {
	tp := hooks.Topology{Namespace: "test", Name: c.Name, MasterName: redistest.MasterName,
		RedisPort: redistest.RedisPort, SentinelPort: redistest.SentinelPort, Quorum: int32(c.Quorum),
		SentinelsEnabled: true, RedisReplicas: int32(len(c.Redis)), SentinelReplicas: int32(len(c.Sentinels)),
		Password: hooks.NewSecret(c.Opts.Password),
		// The sentinels require the password too (spec.auth.sentinel) unless OpenSentinels.
		SentinelPassword: hooks.NewSecret(map[bool]string{false: c.Opts.Password}[c.Opts.OpenSentinels]),
		Placeholder:      hooks.Endpoint{Host: redistest.PlaceholderHost, Port: redistest.PlaceholderPort},
		ModeConfig:       hooks.SentinelModeConfig()}
	for _, s := range c.MonitorSettings() {
		tp.SentinelConfig = append(tp.SentinelConfig, hooks.ConfigEntry{Key: s.Key, Value: s.Value})
	}
	for i, p := range c.Redis {
		tp.Redis = append(tp.Redis, hooks.PodRef{Name: p.Name, IP: p.IP, Ordinal: i, Ready: true})
	}
	for _, p := range c.Sentinels {
		tp.Sentinels = append(tp.Sentinels, hooks.PodRef{Name: p.Name, IP: p.IP, Ordinal: -1, Ready: true})
	}
	return tp
}

// reportKey is the healer's key of c (its report's).
func reportKey(c *redistest.Cluster) string { return topology(c).Key() }

// redisInfo reads INFO server replication keyspace of a redis process.
func redisInfo(p *redistest.Proc) (decision.RedisInfo, error) {
	text, err := p.Do("INFO", "server", "replication", "keyspace").ToString()
	if err != nil {
		return decision.RedisInfo{}, fmt.Errorf("%s: %w", p.Name, err)
	}
	return decision.ParseRedisInfo(text)
}

// sentinelMaster is the address a sentinel gives for the master name; "" when none.
func sentinelMaster(p *redistest.Proc) (string, error) {
	v, err := p.Do("SENTINEL", "GET-MASTER-ADDR-BY-NAME", redistest.MasterName).ToAny()
	if rueidis.IsRedisNil(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", p.Name, err)
	}
	a, ok := v.([]any)
	if !ok || len(a) != 2 {
		return "", fmt.Errorf("%s: get-master-addr-by-name: %v", p.Name, v)
	}
	return fmt.Sprint(a[0]), nil
}

// converged returns nil when exactly one reachable redis is master, every other reachable
// redis replicates it with its link up, and every reachable sentinel names it. skip lists
// processes that are down on purpose.
func converged(c *redistest.Cluster, skip ...*redistest.Proc) (*redistest.Proc, error) {
	down := map[*redistest.Proc]bool{}
	for _, p := range skip {
		down[p] = true
	}
	var master *redistest.Proc
	infos := map[*redistest.Proc]decision.RedisInfo{}
	for _, p := range c.Redis {
		if down[p] {
			continue
		}
		info, err := redisInfo(p)
		if err != nil {
			return nil, err
		}
		infos[p] = info
		if info.Role == hooks.RoleMaster {
			if master != nil {
				return nil, fmt.Errorf("two masters: %s and %s", master.Name, p.Name)
			}
			master = p
		}
	}
	if master == nil {
		return nil, errors.New("no master")
	}
	for p, info := range infos {
		if p != master && (info.MasterHost != master.IP || !info.LinkUp || info.Syncing) {
			return nil, fmt.Errorf("%s: replica of %s:%d link up %v syncing %v, master is %s",
				p.Name, info.MasterHost, info.MasterPort, info.LinkUp, info.Syncing, master.Name)
		}
	}
	for _, s := range c.Sentinels {
		if down[s] {
			continue
		}
		got, err := sentinelMaster(s)
		if err != nil {
			return nil, err
		}
		if got != master.IP {
			return nil, fmt.Errorf("%s monitors %q, master is %s", s.Name, got, master.IP)
		}
		if err := timingsSet(s); err != nil {
			return nil, err
		}
	}
	return master, nil
}

// timingsSet tells whether sentinel s runs with the timing parameters of rule 12.
func timingsSet(s *redistest.Proc) error {
	v, err := s.Do("SENTINEL", "DEBUG").ToAny()
	if err != nil {
		return fmt.Errorf("%s: SENTINEL DEBUG: %w", s.Name, err)
	}
	debug, err := decision.ParseSentinelDebug(v)
	if err != nil {
		return fmt.Errorf("%s: %w", s.Name, err)
	}
	for key, millis := range decision.SentinelTimings() {
		if got := debug[key]; got != millis {
			return fmt.Errorf("%s: SENTINEL DEBUG %s is %d, want %d", s.Name, key, got, millis)
		}
	}
	return nil
}

// write sets n keys on p and waits until replicas replicas acknowledged them.
func write(t testing.TB, p *redistest.Proc, prefix string, n, replicas int) {
	t.Helper()
	for i := 0; i < n; i++ {
		require.NoError(t, p.Do("SET", fmt.Sprintf("%s:%d", prefix, i), "v").Error())
	}
	acked, err := p.Do("WAIT", strconv.Itoa(replicas), "5000").AsInt64()
	require.NoError(t, err)
	require.EqualValues(t, replicas, acked, "WAIT")
}

// dbsize is the number of keys of p; -1 when it does not answer.
func dbsize(p *redistest.Proc) int64 {
	n, err := p.Do("DBSIZE").AsInt64()
	if err != nil {
		return -1
	}
	return n
}

// startWriter runs a redistest.Writer through client until stop is called or the test ends,
// then closes client. stop returns once Run has returned: the writer's results are final.
func startWriter(t *testing.T, client rueidis.Client, cfg redistest.WriterConfig) (w *redistest.Writer, stop func()) {
	t.Helper()
	w, err := redistest.NewWriter(client, cfg)
	if err != nil {
		client.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		defer client.Close()
		w.Run(ctx)
	})
	stop = func() { cancel(); wg.Wait() }
	t.Cleanup(stop) // before the cluster's cleanup kills the processes
	return w, stop
}

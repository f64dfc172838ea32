package healer

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redhook/redhook/healer/decision"
	"github.com/redhook/redhook/healer/redistest"
	"github.com/redhook/redhook/hooks"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// spotahomeConfig is the custom-config example of spotahome's redis-operator, plus two save
// lines: options given on several lines (save, client-output-buffer-limit) that redis.conf
// merges and a naive CONFIG SET per line would flip forever.
var spotahomeConfig = []string{
	"maxclients 100", "hz 50", "timeout 60", "tcp-keepalive 60",
	"client-output-buffer-limit normal 0 0 0",
	"client-output-buffer-limit slave 1000000000 1000000000 0",
	"client-output-buffer-limit pubsub 33554432 8388608 60",
	"save 900 1", "save 300 10",
}

// configEntries is customConfig as hooks.NewTopology splits it: key, then the rest of the line.
func configEntries(lines []string) []hooks.ConfigEntry {
	var out []hooks.ConfigEntry
	for _, l := range lines {
		k, v, _ := strings.Cut(strings.TrimSpace(l), " ")
		out = append(out, hooks.ConfigEntry{Key: strings.ToLower(k), Value: strings.TrimSpace(v)})
	}
	return out
}

// actionsTotal is every write the pool sent, of any type.
func (p *testPool) actionsTotal(t *testing.T) float64 {
	t.Helper()
	families, err := p.reg.Gather()
	require.NoError(t, err)
	total := 0.0
	for _, f := range families {
		if f.GetName() == "redhook_healer_actions_total" {
			for _, m := range f.GetMetric() {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}

// configGet is one setting as a redis process reports it.
func configGet(t *testing.T, n *redistest.Proc, key string) string {
	t.Helper()
	v, err := n.Do("CONFIG", "GET", key).ToAny()
	require.NoError(t, err)
	kv, err := decision.ParseConfigGet(v)
	require.NoError(t, err)
	return kv[key]
}

// waitSettled waits until a whole pass (two more passes counted) sent no write, and says how
// many CONFIG SETs per pass the pool was sending when it does not settle.
func waitSettled(t *testing.T, p *testPool, timeout time.Duration) {
	t.Helper()
	startSets, startPasses := p.metric(t, "redhook_healer_actions_total", "action", "config-set"), p.passes(t)
	redistest.WaitFor(t, timeout, "a pass without writes", func() error {
		before, from := p.actionsTotal(t), p.passes(t)
		p.waitPasses(t, from, 2)
		if grew := p.actionsTotal(t) - before; grew > 0 {
			sets := p.metric(t, "redhook_healer_actions_total", "action", "config-set") - startSets
			return fmt.Errorf("%v writes in 2 passes; %.1f CONFIG SETs per pass so far", grew, sets/(p.passes(t)-startPasses))
		}
		return nil
	})
}

// TestIntegrationConfigSettled: with spotahome's custom config, booted from the file as a pod
// boots, a settled RedisFailover gets no write at all; a drift of a merged option is healed
// with one CONFIG SET of the merged value.
func TestIntegrationConfigSettled(t *testing.T) {
	c := redistest.NewCluster(t, "cfgset", redistest.Options{Redis: 3, Sentinels: 3, RedisConfig: spotahomeConfig})
	topo := topology(c)
	topo.RedisConfig = configEntries(spotahomeConfig)
	p := startPool(t)
	p.Track(topo)
	waitConverged(t, p, c, 15*time.Second)
	waitSettled(t, p, 10*time.Second)

	merged := func() error {
		for _, n := range c.Redis {
			if got := configGet(t, n, "save"); got != "900 1 300 10" {
				return fmt.Errorf("%s: save %q", n.Name, got)
			}
			if got := configGet(t, n, "client-output-buffer-limit"); got != "normal 0 0 0 slave 1000000000 1000000000 0 pubsub 33554432 8388608 60" {
				return fmt.Errorf("%s: client-output-buffer-limit %q", n.Name, got)
			}
			if got := configGet(t, n, "maxclients"); got != "100" {
				return fmt.Errorf("%s: maxclients %q", n.Name, got)
			}
		}
		return nil
	}
	require.NoError(t, merged())
	before, from := p.actionsTotal(t), p.passes(t)
	p.waitPasses(t, from, 5)
	assert.Equal(t, before, p.actionsTotal(t), "a settled RedisFailover gets no write:\n%s", actionLog(p.Report(reportKey(c))))
	assert.Empty(t, p.Report(reportKey(c)).Errors)

	// Drift: one CONFIG SET per option brings back the merged value, then nothing.
	sets := p.metric(t, "redhook_healer_actions_total", "action", "config-set")
	require.NoError(t, c.Redis[1].Do("CONFIG", "SET", "save", "60 1").Error())
	require.NoError(t, c.Redis[1].Do("CONFIG", "SET", "client-output-buffer-limit", "slave 1gb 1gb 0 pubsub 1mb 1mb 1").Error())
	redistest.WaitFor(t, 5*time.Second, "drift healed", merged)
	waitSettled(t, p, 5*time.Second)
	assert.Equal(t, sets+2, p.metric(t, "redhook_healer_actions_total", "action", "config-set"),
		"one CONFIG SET per drifted option:\n%s", actionLog(p.Report(reportKey(c))))
}

// TestIntegrationConfigRefused: a value that Redis refuses live (more clients than the open
// files limit allows: a booting redis lowers it, CONFIG SET refuses it) is tried once per pod,
// stays in the report's errors with the pod and the option, and is not sent again every pass.
func TestIntegrationConfigRefused(t *testing.T) {
	var lim syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim))
	if lim.Max > 1<<24 {
		// Redis tries every limit from the asked one down to the hard limit in steps of 16:
		// far above it, CONFIG SET maxclients blocks the server for minutes.
		t.Skipf("open files hard limit %d: no maxclients above it that Redis refuses quickly", lim.Max)
	}
	c := redistest.NewCluster(t, "cfgref", redistest.Options{Redis: 2, Sentinels: 3})
	topo := topology(c)
	topo.RedisConfig = []hooks.ConfigEntry{{Key: "maxclients", Value: strconv.FormatUint(lim.Max+1000, 10)},
		{Key: "hz", Value: "20"}}
	p := startPool(t)
	p.Track(topo)
	waitConverged(t, p, c, 15*time.Second)
	refused := func() error {
		errs := strings.Join(p.Report(reportKey(c)).Errors, "\n")
		for _, n := range c.Redis {
			if !strings.Contains(errs, n.Name+" maxclients") && !strings.Contains(errs, n.Name+": config set maxclients") {
				return fmt.Errorf("no error for %s maxclients in %q", n.Name, errs)
			}
		}
		return nil
	}
	redistest.WaitFor(t, 5*time.Second, "refusal reported", refused)
	for _, n := range c.Redis {
		assert.Equal(t, "20", configGet(t, n, "hz"), "the other settings are applied")
	}
	sets, from := p.metric(t, "redhook_healer_actions_total", "action", "config-set"), p.passes(t)
	p.waitPasses(t, from, 5)
	assert.Equal(t, sets, p.metric(t, "redhook_healer_actions_total", "action", "config-set"),
		"a refused CONFIG SET is not sent again every pass:\n%s", actionLog(p.Report(reportKey(c))))
	assert.NoError(t, refused(), "the refusal stays in the report")
}

package local

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redhook/redhook/cmd/redhook/internal/manifest"
	"github.com/redhook/redhook/healer/redistest"
	"github.com/redhook/redhook/hooks"
)

// rolloutRF is the RedisFailover of the rollout tests; %s is more of spec.redis.
const rolloutRF = `apiVersion: databases.spotahome.com/v1
kind: RedisFailover
metadata: {name: roll}
spec:
  sentinel:
    customConfig: ["down-after-milliseconds 2000"]
  redis:
    replicas: 3
%s`

// editRF replaces the file at path as an editor does: a new file renamed over the old one, so
// that the watcher never reads half of it.
func editRF(t *testing.T, path, yaml string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".rf.yaml.tmp")
	require.NoError(t, os.WriteFile(tmp, []byte(yaml), 0o600))
	require.NoError(t, os.Rename(tmp, path))
}

// startRollout starts a local RedisFailover from yaml and waits until it is Ready; it returns the
// cluster, its output, the file and the context that ends with the test.
func startRollout(t *testing.T, yaml string) (*Cluster, *redistest.SyncBuffer, string, context.Context) {
	t.Helper()
	redistest.Require(t, redistest.RedisServer, "redis-cli")
	first := redistest.Subnets(t, 2)
	out := &redistest.SyncBuffer{}
	logs := redistest.CaptureLog(t, "redhook")
	path := writeRF(t, yaml)
	c, err := New(Config{Files: []string{path}, BaseIP: net.ParseIP(fmt.Sprintf("127.0.%d.1", first)),
		RestartDelay: time.Second, RedisServer: "redis-server", RedisCli: "redis-cli"}, out, zerolog.New(logs))
	require.NoError(t, err)
	ctx, _, _ := runUntilCleanup(t, c)
	require.True(t, c.WaitReady(ctx, true, 2*time.Minute), "not Ready within 2 minutes; output:\n%s", out)
	return c, out, path, ctx
}

// redisRevision is the update revision of the redis StatefulSet of the last sync.
func redisRevision(t *testing.T, c *Cluster) string {
	t.Helper()
	set, found, err := c.desiredRedisSet()
	require.NoError(t, err)
	require.True(t, found)
	return set.revision
}

// starts is every pod's process start count.
func starts(c *Cluster) map[string]int {
	n := map[string]int{}
	for _, p := range c.pods() {
		n[p.name] = p.proc.startCount()
	}
	return n
}

// replacement is one "rolling" line of the output.
type replacement struct {
	ordinal, partition int
	role, revision     string
	at                 int // index of the line in the output
}

var rollingLine = regexp.MustCompile(`rolling rfr-roll-(\d+) \(([^,]+), partition (\d+)\) to revision (\S+)`)

// replacements are the "rolling" lines of out, in order.
func replacements(out string) []replacement {
	var rs []replacement
	for i, line := range strings.Split(out, "\n") {
		if m := rollingLine.FindStringSubmatch(line); m != nil {
			o, _ := strconv.Atoi(m[1])
			p, _ := strconv.Atoi(m[3])
			rs = append(rs, replacement{ordinal: o, role: m[2], partition: p, revision: m[4], at: i})
		}
	}
	return rs
}

// progress is the rollout's lines of out: edits, replacements, switchovers.
func progress(out string) string {
	var b strings.Builder
	re := regexp.MustCompile(`changed: RedisFailover|update revision|rolling |ready at revision|partition \d+:|rollout done|healer: `)
	for _, line := range strings.Split(out, "\n") {
		if re.MatchString(line) {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// TestRolloutLosesNothing: an edit of the pod template in the file rolls the redis pods as the
// StatefulSet controller would under the partition the hook renders: one at a time, highest
// ordinal first, never the master's pod while it is master; the healer switches over once (twice
// when the master started on the highest ordinal, see hooks/rollout.go) and a SET + WAIT 1
// writer through Sentinel loses nothing, confirmed or not.
//
// The first master is usually rfr-roll-0 (every pod boots empty and the healer elects the
// lowest ordinal); "master moved" first stops its pod as a kubelet would, so that the rollout
// starts from a master on ordinal 1 or 2, whichever Sentinel promotes.
func TestRolloutLosesNothing(t *testing.T) {
	t.Run("first master", func(t *testing.T) { rollout(t, false) })
	t.Run("master moved", func(t *testing.T) { rollout(t, true) })
}

func rollout(t *testing.T, moveMaster bool) {
	c, out, path, ctx := startRollout(t, fmt.Sprintf(rolloutRF, ""))
	if moveMaster {
		moveMasterAway(t, ctx, c, out)
	}
	before := redisRevision(t, c)
	master := c.Master()
	require.NotNil(t, master, "no master in the healer's report; output:\n%s", out)
	m, err := strconv.Atoi(strings.TrimPrefix(master.Name(), "rfr-roll-"))
	require.NoError(t, err)

	client, err := c.SentinelClient()
	require.NoError(t, err)
	defer client.Close()
	w, err := redistest.NewWriter(client, redistest.WriterConfig{Wait: 500 * time.Millisecond, Timeout: time.Second})
	require.NoError(t, err)
	wctx, stopWriter := context.WithCancel(ctx)
	writing := make(chan struct{})
	go func() { w.Run(wctx); close(writing) }()
	defer func() { stopWriter(); <-writing }()
	redistest.WaitFor(t, 30*time.Second, "a confirmed write before the edit", func() error {
		if w.Counts().Confirmed == 0 {
			return fmt.Errorf("none yet")
		}
		return nil
	})

	edited := time.Now()
	editRF(t, path, fmt.Sprintf(rolloutRF, "    podAnnotations: {rollout: \"2\"}\n"))
	waitLine(t, out, regexp.MustCompile(`rollout done: every redis pod at revision`), 5*time.Minute)
	rolled := time.Since(edited)
	require.True(t, c.WaitReady(ctx, true, time.Minute), "not Ready after the rollout; output:\n%s", out)
	after := redisRevision(t, c)
	redistest.WaitFor(t, 30*time.Second, "a confirmed write after the rollout", func() error {
		if _, ok := w.FirstSuccessAfter(edited.Add(rolled)); !ok {
			return fmt.Errorf("none yet")
		}
		return nil
	})
	stopWriter()
	<-writing

	text := out.String()
	t.Logf("rollout progress:\n%s", progress(text))
	require.NotEqual(t, before, after, "the edit did not change the pod template's revision")
	for _, p := range c.Redis() {
		assert.Equal(t, after, c.podState(p).revision, "%s not at the new revision", p.Name())
	}
	rs := replacements(text)
	var order []int
	for _, r := range rs {
		order = append(order, r.ordinal)
		assert.Equal(t, after, r.revision)
		assert.GreaterOrEqual(t, r.ordinal, r.partition, "rfr-roll-%d replaced below the partition", r.ordinal)
		assert.NotEqual(t, "master", r.role, "rfr-roll-%d replaced while it was the master", r.ordinal)
	}
	// Whatever the master's ordinal, the StatefulSet order is 2, 1, 0 (hooks/rollout.go).
	assert.Equal(t, []int{2, 1, 0}, order, "replacement order; output:\n%s", text)

	switchovers := regexp.MustCompile(`healer: switchover rfr-roll-(\d+) to rfr-roll-(\d+)`).FindAllStringSubmatchIndex(text, -1)
	want := 1
	if m == 2 {
		want = 2 // first away from the highest ordinal, then to an updated pod
	}
	assert.Len(t, switchovers, want, "planned switchovers (master started on rfr-roll-%d); output:\n%s", m, text)
	// The first master's pod is replaced only after the healer switched over away from it.
	for _, r := range rs {
		if r.ordinal == m && len(switchovers) > 0 {
			line := strings.Count(text[:switchovers[0][0]], "\n")
			assert.Less(t, line, r.at, "rfr-roll-%d replaced before the switchover away from it", m)
		}
	}
	if m == 0 {
		assert.Equal(t, 0, order[len(order)-1], "the master's pod is updated last")
	}

	loss, err := w.Verify(ctx, client)
	require.NoError(t, err)
	counts := w.Counts()
	t.Logf("rollout from master rfr-roll-%d: %s from the edit to \"rollout done\"; writes %+v, longest write gap %v, failed writes by error: %v",
		m, rolled.Round(time.Millisecond), counts, w.LongestGap().Round(time.Millisecond), w.Errors(edited))
	assert.Empty(t, loss.Confirmed, "confirmed writes lost")
	assert.Empty(t, loss.Unconfirmed, "acknowledged (unconfirmed) writes lost")
	assert.Positive(t, counts.Confirmed, "no write confirmed")
}

// moveMasterAway stops the master's pod (preStop, SIGTERM) and waits until another pod is the
// master and the RedisFailover is Ready again with every pod back.
func moveMasterAway(t *testing.T, ctx context.Context, c *Cluster, out *redistest.SyncBuffer) {
	t.Helper()
	old := c.Master()
	require.NotNil(t, old)
	hookOut, err := c.Stop(ctx, old)
	require.NoError(t, err, "preStop output:\n%s", hookOut)
	redistest.WaitFor(t, 2*time.Minute, "another master, every pod Ready", func() error {
		if m := c.Master(); m == nil || m == old {
			return fmt.Errorf("master still %s or none", old.Name()) // a *Pod's fields are the cluster's (data race)
		}
		for _, p := range c.Redis() {
			if !c.podState(p).ready {
				return fmt.Errorf("%s not Ready", p.Name())
			}
		}
		if !c.WaitReady(ctx, true, 100*time.Millisecond) {
			return fmt.Errorf("not Ready")
		}
		return nil
	})
	t.Logf("master moved from %s to %s", old.Name(), c.Master().Name())
}

// TestCustomConfigEditRestartsNothing: a redis setting changed in customConfig does not change
// the pod template, so no pod is replaced and no process restarts; the healer applies it live.
func TestCustomConfigEditRestartsNothing(t *testing.T) {
	c, out, path, ctx := startRollout(t, fmt.Sprintf(rolloutRF, "    customConfig: [\"maxmemory-policy noeviction\"]\n"))
	before, started := redisRevision(t, c), starts(c)

	editRF(t, path, fmt.Sprintf(rolloutRF, "    customConfig: [\"maxmemory-policy allkeys-lru\"]\n"))
	for _, p := range c.Redis() {
		redistest.WaitFor(t, time.Minute, p.Name()+" CONFIG GET maxmemory-policy allkeys-lru", func() error {
			cl, err := redistest.NewClient(p.Addr(), "")
			if err != nil {
				return err
			}
			defer cl.Close()
			kv, err := cl.Do(ctx, cl.B().ConfigGet().Parameter("maxmemory-policy").Build()).AsStrMap()
			if err != nil {
				return err
			}
			if v := kv["maxmemory-policy"]; v != "allkeys-lru" {
				return fmt.Errorf("maxmemory-policy %s", v)
			}
			return nil
		})
	}
	// The healer applied the new spec: the syncs use it (the status says so, set with the
	// children), and the template they render is the one the pods run.
	redistest.WaitFor(t, 10*time.Second, "status conditions of generation 2", func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		if len(c.status.Conditions) == 0 {
			return fmt.Errorf("no conditions")
		}
		for _, cnd := range c.status.Conditions {
			if cnd.ObservedGeneration != 2 {
				return fmt.Errorf("%s of generation %d", cnd.Type, cnd.ObservedGeneration)
			}
		}
		return nil
	})
	assert.Equal(t, before, redisRevision(t, c), "a customConfig edit changed the pod template")
	assert.Equal(t, started, starts(c), "a process restarted")
	assert.Empty(t, replacements(out.String()), "a pod was replaced")
	assert.Contains(t, out.String(), "at generation 2")
	for _, p := range c.Redis() {
		assert.Equal(t, before, c.podState(p).revision)
	}
	// Ready again within a few probe periods: a probe can fail once around the live CONFIG SETs
	// on a loaded machine (seen in the -race pass); a restart would have shown above.
	redistest.WaitFor(t, 10*time.Second, "every redis pod Ready", func() error {
		for _, p := range c.Redis() {
			if !c.podState(p).ready {
				return fmt.Errorf("%s not Ready", p.Name())
			}
		}
		return nil
	})
}

// TestInvalidEditKeepsRunning: an edit the API server would refuse (a negative replica count, a
// customConfig value Redis refuses) or that local mode cannot follow (another replica count) is
// reported with the field at fault, and the cluster keeps running as it was on the last good
// spec; a valid edit afterwards still applies.
func TestInvalidEditKeepsRunning(t *testing.T) {
	c, out, path, ctx := startRollout(t, fmt.Sprintf(rolloutRF, ""))
	before, started := redisRevision(t, c), starts(c)
	for _, tc := range []struct{ spec, field string }{
		{strings.Replace(fmt.Sprintf(rolloutRF, ""), "replicas: 3", "replicas: -1", 1), "spec.redis.replicas"},
		{fmt.Sprintf(rolloutRF, "    customConfig: [\"maxmemory-policy lru\"]\n"), "spec.redis.customConfig[0]"},
		{strings.Replace(fmt.Sprintf(rolloutRF, ""), "replicas: 3", "replicas: 4", 1), "spec.redis.replicas: 3 → 4"},
	} {
		editRF(t, path, tc.spec)
		waitLine(t, out, regexp.MustCompile(`not applied, the cluster keeps running as it is: .*`+regexp.QuoteMeta(tc.field)), time.Minute)
	}
	t.Logf("the invalid edits:\n%s", regexp.MustCompile(`(?m)^.*not applied.*$`).FindAllString(out.String(), -1))
	c.mu.Lock()
	generation, replicas := c.latest.Generation, c.latest.Spec.Redis.Replicas
	c.mu.Unlock()
	assert.Equal(t, int64(1), generation, "an invalid edit was applied")
	assert.Equal(t, int32(3), replicas)
	assert.Equal(t, before, redisRevision(t, c))
	assert.Equal(t, started, starts(c), "a process restarted")
	assert.True(t, c.WaitReady(ctx, true, time.Second), "not Ready after the invalid edits; output:\n%s", out)

	// The file fixed: the edit applies.
	editRF(t, path, fmt.Sprintf(rolloutRF, "    customConfig: [\"maxmemory-policy allkeys-lru\"]\n"))
	waitLine(t, out, regexp.MustCompile(`RedisFailover default/roll at generation 2`), time.Minute)
	assert.Empty(t, replacements(out.String()), "a pod was replaced")
}

// TestTemplateRevision: the revision of the redis StatefulSet's template is the same for the
// typed child of a fresh rendering and for that child read back as JSON (the observed child),
// changes with the pod template, and does not change with customConfig, which the healer
// applies live.
func TestTemplateRevision(t *testing.T) {
	render := func(redis string) (rendered, readBack string) {
		t.Helper()
		req, err := manifest.FirstSync([]byte(`{"apiVersion": "databases.spotahome.com/v1", "kind": "RedisFailover",
			"metadata": {"name": "rev"}, "spec": {"redis": {`+redis+`}}}`), map[string]json.RawMessage{})
		require.NoError(t, err)
		children := hooks.Sync(req, hooks.HealerReport{}).Children
		set, found, err := redisSetOf(children, hooks.RedisName("rev"))
		require.NoError(t, err)
		require.True(t, found)
		var raw []any
		for _, ch := range children {
			b, err := json.Marshal(ch)
			require.NoError(t, err)
			raw = append(raw, json.RawMessage(b))
		}
		again, _, err := redisSetOf(raw, hooks.RedisName("rev"))
		require.NoError(t, err)
		return set.revision, again.revision
	}
	base, readBack := render(`"customConfig": ["maxmemory-policy noeviction"]`)
	assert.Regexp(t, `^rfr-rev-[0-9a-f]{10}$`, base)
	assert.Equal(t, base, readBack, "a child read back as JSON has another revision")
	sameTemplate, _ := render(`"customConfig": ["maxmemory-policy allkeys-lru"]`)
	assert.Equal(t, base, sameTemplate, "customConfig changed the pod template")
	annotated, _ := render(`"customConfig": ["maxmemory-policy noeviction"], "podAnnotations": {"rollout": "2"}`)
	assert.NotEqual(t, base, annotated, "a pod annotation did not change the revision")
}

package local

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/redhook/redhook/cmd/redhook/internal/manifest"
	"github.com/redhook/redhook/healer/redistest"
	"github.com/redhook/redhook/hooks"
)

// TestRenderedConfigsBoot: what renders must run. For every golden sync request
// (hooks/testdata/sync), every example (manifests/examples, rendered as `redhook render` does)
// and the specs in bootSpecs, the rendered redis.conf and sentinel.conf, with the auth lines of
// the rendered Secret, boot in a real redis-server and redis-sentinel; both answer PING (after
// AUTH with the password when auth is on, and refuse it before), pass the rendered liveness
// and readiness probes (ready.sh against the running redis), apply the rendered
// rename-command lines, and the sentinel monitors the rendered master; one second later both
// are still running and answer. A golden named invalid-* or auth-secret-* may be held (SpecValid
// False or the auth Secret missing: Sync returns the observed children, nothing new is
// rendered) and is then skipped; every other case must render.
//
// What the test changes in the rendered files, and why the rest still proves that they boot:
//   - It lays them out as `redhook local` does, through the same code (writeFiles): the pod's
//     mount paths become directories (include /redis-auth/redis.conf, dir /data, the readiness
//     script), and a local.conf that comes after the rendered file sets bind, bind-source-addr,
//     replica-announce-ip / sentinel announce-ip to the process's own 127.0.x.y, pidfile, logfile
//     "" (stdout, which the harness captures) and the sentinel's dir. The rendered `bind * -::*`
//     would take every address of the machine; the announce addresses would be a pod IP. Redis
//     keeps the last value of a setting, so these lines replace only themselves: the port, the
//     auth lines, protected-mode, rename-command, the customConfig lines and the sentinel
//     settings are read as rendered. The sentinel boots from the copy its init container makes:
//     the rendered sentinel.conf, then the auth lines, then (locally) the include of local.conf.
//   - Beyond `redhook local` (whose first sync never names a pod IP), the master address of a
//     replicaof or sentinel monitor line that is not a loopback address is replaced: an IP (a
//     pod IP from an observation, a bootstrap node) by 127.0.x.254 of the test's subnet, where
//     nothing listens; a hostname by "localhost", still a hostname that Sentinel must be told to
//     resolve (sentinel resolve-hostnames), resolved without DNS. So no process dials outside
//     the machine (the harness's rule); the master's port, name and quorum are kept.
//
// The processes are not restarted, the container command line (spec.*.command) is not run (the
// binary is started with its config file, as `redhook local` does) and the preStop script is not
// run.
//
// The cases boot in parallel subtests, each process on its own address of a claimed subnet; the
// processes belong to the whole test, so that the check "still running one second later" is one
// wait for every case instead of one per case.
func TestRenderedConfigsBoot(t *testing.T) {
	redistest.Require(t, redistest.RedisServer, redistest.RedisSentinel, "redis-cli", "sh")
	start := time.Now()
	cases := slices.Concat(goldenBootCases(t), exampleBootCases(t), specBootCases(t))
	t.TempDir() // registered first, removed last: after every process is killed
	var subnets []int
	for range (len(cases) + casesPerSubnet - 1) / casesPerSubnet {
		subnets = append(subnets, redistest.Subnet(t))
	}
	owner := t
	booted := make([]*bootedCase, len(cases)) // each subtest sets its own element
	t.Run("boot", func(t *testing.T) {
		for i, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				booted[i] = boot(owner, t, c, subnets[i/casesPerSubnet], 2*(i%casesPerSubnet)+1)
			})
		}
	})
	// Every process started before the subtests above ended.
	time.Sleep(time.Second)
	counts := map[string]int{}
	procs := 0
	for _, b := range booted {
		if b != nil { // nil: skipped, or failed already
			counts[b.kind]++
			procs += len(b.procs())
		}
	}
	t.Run("alive after 1s", func(t *testing.T) {
		for _, b := range booted {
			if b != nil {
				t.Run(b.name, b.checkAlive)
			}
		}
	})
	t.Logf("booted %d goldens, %d examples and %d specs (%d processes) in %s",
		counts["golden"], counts["example"], counts["spec"], procs, time.Since(start).Round(10*time.Millisecond))
}

// casesPerSubnet: a case takes two addresses of its subnet (redis, sentinel), hosts 1 to 200;
// nowhereHost stands for a master outside the machine: nothing listens there.
const (
	casesPerSubnet = 100
	nowhereHost    = 254
)

// bootExits are the processes expected to exit at start, by case, with a line their log must
// show. They are not defects of the renderer: the spec names a file that exists only in the
// user's image. Every line before it was read: Redis loads modules after the whole config.
var bootExits = map[string]string{
	// customConfigUnchecked passes loadmodule /opt/modules/example.so through unchecked.
	"golden:custom-config-unchecked": "Module /opt/modules/example.so failed to load",
}

// bootTestCase is one sync request whose rendered children are booted.
type bootTestCase struct {
	name string // kind:NAME
	kind string // golden, example or spec
	req  *hooks.SyncRequest
	obs  hooks.HealerReport
	// mayHold: an invalid-* or auth-secret-* golden, whose children may be held.
	mayHold bool
}

const repoRoot = "../../../.."

func goldenBootCases(t *testing.T) []bootTestCase {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(repoRoot, "hooks", "testdata", "sync", "*"))
	require.NoError(t, err)
	require.NotEmpty(t, dirs, "no golden cases")
	var cases []bootTestCase
	for _, dir := range dirs {
		name := filepath.Base(dir)
		raw, err := os.ReadFile(filepath.Join(dir, "request.json"))
		require.NoError(t, err)
		req, err := hooks.DecodeSyncRequest(raw)
		require.NoError(t, err, name)
		c := bootTestCase{name: "golden:" + name, kind: "golden", req: &req,
			mayHold: strings.HasPrefix(name, "invalid-") || strings.HasPrefix(name, "auth-secret-")}
		if b, err := os.ReadFile(filepath.Join(dir, "observation.json")); err == nil {
			require.NoError(t, json.Unmarshal(b, &c.obs), name)
		}
		cases = append(cases, c)
	}
	return cases
}

func exampleBootCases(t *testing.T) []bootTestCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, "manifests", "examples", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no examples")
	var cases []bootTestCase
	for _, f := range files {
		docs, err := manifest.Read(f, nil)
		require.NoError(t, err)
		if slices.ContainsFunc(docs, func(d manifest.Document) bool { return d.Kind == hooks.ClusterKind }) {
			// A RedisCluster example is not booted here: it is read and validated as
			// `redhook local` does (no process starts), and TestLocalRedisClusterExample runs
			// manifests/examples/cluster.yaml to cluster_state ok.
			c, err := NewRedisCluster(Config{Files: []string{f}, BaseIP: net.ParseIP("127.0.0.1"),
				DataDir: t.TempDir(), RedisServer: "redis-server", RedisCli: "redis-cli"}, io.Discard, zerolog.Nop())
			require.NoError(t, err, f)
			require.NotEmpty(t, c.nodes, f)
			continue
		}
		if !slices.ContainsFunc(docs, func(d manifest.Document) bool { return d.Kind == hooks.Kind }) {
			continue
		}
		cases = append(cases, firstSyncs(t, "example", strings.TrimSuffix(filepath.Base(f), ".yaml"), docs)...)
	}
	return cases
}

func specBootCases(t *testing.T) []bootTestCase {
	t.Helper()
	var cases []bootTestCase
	for _, s := range bootSpecs {
		docs, err := manifest.Read("-", strings.NewReader(s.yaml))
		require.NoError(t, err, s.name)
		cases = append(cases, firstSyncs(t, "spec", s.name, docs)...)
	}
	return cases
}

// firstSyncs are the first-sync requests of the RedisFailovers in docs, with the Secrets in docs
// as related objects: what `redhook render` renders.
func firstSyncs(t *testing.T, kind, name string, docs []manifest.Document) []bootTestCase {
	t.Helper()
	secrets := map[string]json.RawMessage{}
	for _, d := range docs {
		if d.Kind == "Secret" {
			s, key, err := manifest.NormalizeSecret(d.JSON)
			require.NoError(t, err, d.Source)
			secrets[key] = s
		}
	}
	var cases []bootTestCase
	for _, d := range docs {
		if d.Kind != hooks.Kind {
			continue
		}
		req, err := manifest.FirstSync(d.JSON, secrets)
		require.NoError(t, err, d.Source)
		cases = append(cases, bootTestCase{name: kind + ":" + name, kind: kind, req: req})
	}
	require.Len(t, cases, 1, "%s %s: want one RedisFailover", kind, name)
	return cases
}

// bootSpecs are realistic specs beyond the examples: the options users set most, and values
// that are hard to quote.
var bootSpecs = []struct{ name, yaml string }{
	{"tuned", `apiVersion: databases.spotahome.com/v1
kind: RedisFailover
metadata: {name: tuned, namespace: cache}
spec:
  redis:
    customConfig:
      - maxmemory 64mb
      - maxmemory-policy allkeys-lfu
      - maxmemory-samples 10
      - save 900 1
      - save 300 10
      - save 60 10000
      - client-output-buffer-limit replica 256mb 64mb 60
      - client-output-buffer-limit pubsub 32mb 8mb 60
      - appendonly yes
      - appendfsync everysec
      - notify-keyspace-events Ex
      - latency-tracking-info-percentiles "50 99 99.9"
      - timeout 300
      - tcp-backlog 128
      - repl-backlog-size 16mb
      - hz 20
      - lazyfree-lazy-eviction yes
  sentinel:
    customConfig:
      - down-after-milliseconds 2000
      - failover-timeout 30000
      - parallel-syncs 1
      - master-reboot-down-after-period 0
`},
	{"renamed", `apiVersion: databases.spotahome.com/v1
kind: RedisFailover
metadata: {name: renamed}
spec:
  redis:
    customCommandRenames:
      - {from: FLUSHALL, to: ""}
      - {from: FLUSHDB, to: ""}
      - {from: DEBUG, to: ""}
      - {from: KEYS, to: KEYS-7d1e4b}
      - {from: SHUTDOWN, to: shutdown-2c9a}
`},
	{"odd-password", `apiVersion: v1
kind: Secret
metadata: {name: odd-password, namespace: shop}
stringData:
  password: "two words \"double\" 'single' back\\slash #hash $HOME ;semi\ttab é"
---
apiVersion: databases.spotahome.com/v1
kind: RedisFailover
metadata: {name: odd-password, namespace: shop}
spec:
  auth: {secretPath: odd-password}
  redis:
    customConfig: [maxmemory 32mb]
    customCommandRenames: [{from: KEYS, to: ""}]
  sentinel:
    masterName: shop-cache
`},
	{"bootstrap-auth", `apiVersion: v1
kind: Secret
metadata: {name: migrate-auth}
stringData: {password: "migrate me please"}
---
apiVersion: databases.spotahome.com/v1
kind: RedisFailover
metadata: {name: migrate}
spec:
  auth: {secretPath: migrate-auth}
  bootstrapNode: {host: old-redis.legacy.example, port: "6390", allowSentinels: true}
  redis:
    replicas: 2
    customConfig: [maxmemory 32mb, "maxmemory-policy noeviction"]
`},
	{"bootstrap-no-sentinels", `apiVersion: databases.spotahome.com/v1
kind: RedisFailover
metadata: {name: copy}
spec:
  bootstrapNode: {host: 192.0.2.44}
`},
	{"persisted-exporter", `apiVersion: databases.spotahome.com/v1
kind: RedisFailover
metadata: {name: persisted}
spec:
  redis:
    port: 6390
    customConfig:
      - appendonly yes
      - appendfilename "persisted.aof"
      - aof-use-rdb-preamble yes
      - save ""
    exporter: {enabled: true}
    storage:
      persistentVolumeClaim:
        metadata: {name: data}
        spec:
          accessModes: [ReadWriteOnce]
          resources: {requests: {storage: 1Gi}}
  sentinel:
    masterName: orders-1
    exporter: {enabled: true}
`},
}

// bootedCase is a case whose processes started.
type bootedCase struct {
	bootTestCase
	redis, sentinel *redistest.Proc
	// redisExit is the line the redis process's log must show when it is expected to exit
	// (bootExits).
	redisExit string
}

func (b *bootedCase) procs() []*redistest.Proc {
	if b.sentinel == nil {
		return []*redistest.Proc{b.redis}
	}
	return []*redistest.Proc{b.redis, b.sentinel}
}

// procTB is the redistest.TB of one case's process: failures, skips and logs go to the case's
// subtest; the process's directory and its kill belong to owner, the whole test, so that the
// process outlives the subtest that booted it. With capture set, Fatalf records the failure
// instead of ending the subtest (redistest returns after every Fatalf): a start that is
// expected to fail is checked afterwards.
type procTB struct {
	*testing.T
	owner   *testing.T
	capture bool
	fatal   string
}

func (p *procTB) Cleanup(f func()) { p.owner.Cleanup(f) }
func (p *procTB) TempDir() string  { return p.owner.TempDir() }
func (p *procTB) Fatalf(format string, args ...any) {
	if p.capture {
		p.fatal = fmt.Sprintf(format, args...)
		return
	}
	p.T.Helper()
	p.T.Fatalf(format, args...)
}

// boot renders case c, boots its first redis pod on 127.0.<subnet>.<host> and, when it has
// sentinels, its first sentinel on the next address, and checks that they answer. It returns
// nil when the case's children are held.
func boot(owner, t *testing.T, c bootTestCase, subnet, host int) *bootedCase {
	resp := hooks.Sync(c.req, c.obs)
	if reason := heldReason(resp.Status); reason != "" {
		if c.mayHold {
			t.Skipf("children held, nothing new rendered: %s", reason)
		}
		t.Fatalf("children held, nothing rendered: %s", reason)
	}
	secrets := c.req.Related[hooks.KeySecret]
	if secrets == nil {
		secrets = map[string]json.RawMessage{}
	}
	in := &input{parent: c.req.Parent, secrets: secrets}
	require.NoError(t, in.addPasswordFile(""))
	cl := &Cluster{parent: in.parent, latest: &in.parent, secrets: secrets, children: resp.Children, password: in.password}
	rf := c.req.Parent.WithDefaults()
	nowhere := fmt.Sprintf("127.0.%d.%d", subnet, nowhereHost)
	b := &bootedCase{bootTestCase: c, redisExit: bootExits[c.name]}

	redisTB := &procTB{T: t, owner: owner, capture: b.redisExit != ""}
	b.redis = prepare(t, redisTB, cl, hooks.ComponentRedis, hooks.RedisPodName(rf.Name, 0),
		fmt.Sprintf("127.0.%d.%d", subnet, host), int(rf.Spec.Redis.Port), nowhere)
	if hooks.SentinelsEnabled(rf) && rf.Spec.Sentinel.Replicas > 0 {
		b.sentinel = prepare(t, &procTB{T: t, owner: owner}, cl, hooks.ComponentSentinel,
			hooks.SentinelName(rf.Name)+"-0", fmt.Sprintf("127.0.%d.%d", subnet, host+1), hooks.SentinelPort, nowhere)
	}

	for _, p := range b.procs() {
		p.Start()
	}
	if b.redisExit == "" {
		checkRedis(t, cl, rf, b.redis)
	}
	if b.sentinel != nil {
		checkSentinel(t, cl, rf, b.sentinel)
	}
	return b
}

// heldReason is why Sync returned the observed children instead of rendering; "" when it
// rendered.
func heldReason(s hooks.RedisFailoverStatus) string {
	held := false
	var why []string
	for _, c := range s.Conditions {
		switch {
		case c.Type == hooks.ConditionProgressing && c.Reason == "ChildrenHeld":
			held = true
		case c.Type == hooks.ConditionSpecValid && c.Status == "False",
			c.Type == hooks.ConditionDegraded && c.Status == "True":
			why = append(why, c.Type+": "+c.Message)
		}
	}
	if !held {
		return ""
	}
	return strings.Join(why, "; ")
}

// prepare lays out one pod's files as `redhook local` does and returns its process, not
// started. The master address of replicaof and sentinel monitor lines is kept on loopback
// (loopbackMasters).
func prepare(t *testing.T, tb redistest.TB, cl *Cluster, component, name, ip string, port int, nowhere string) *redistest.Proc {
	t.Helper()
	bin := redistest.RedisServer
	if component == hooks.ComponentSentinel {
		bin = redistest.RedisSentinel
	}
	p := redistest.NewProc(tb, bin, name, ip, port)
	pod := &Pod{name: name, component: component, ip: ip, port: int32(port), dir: p.Dir}
	require.NoError(t, os.MkdirAll(filepath.Join(p.Dir, "data"), 0o700))
	require.NoError(t, cl.writeFiles(pod))
	// The rendered file the process reads, and the file redistest starts it with (written to
	// p.Dir/redis.conf or p.Dir/sentinel.conf at Start).
	rendered, conf := filepath.Join(p.Dir, "config", "redis.conf"), filepath.Join(p.Dir, "local.conf")
	if component == hooks.ComponentSentinel {
		rendered = filepath.Join(p.Dir, "writable", "sentinel.conf")
		conf = rendered
	}
	b, err := os.ReadFile(rendered)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(rendered, []byte(loopbackMasters(string(b), nowhere)), 0o600))
	b, err = os.ReadFile(conf)
	require.NoError(t, err)
	p.Conf = string(b)
	p.Password = cl.password
	if component == hooks.ComponentSentinel && !cl.parent.WithDefaults().Spec.Auth.Sentinel {
		p.Password = "" // as in spotahome, sentinels require a password only with spec.auth.sentinel
	}
	return p
}

// loopbackMasters replaces the master address of the replicaof and sentinel monitor lines of
// conf when it is not a loopback address: an IP by nowhere, a hostname by localhost.
func loopbackMasters(conf, nowhere string) string {
	lines := strings.Split(conf, "\n")
	for i, line := range lines {
		f := strings.Fields(line)
		host := -1
		switch {
		case len(f) == 3 && f[0] == "replicaof":
			host = 1
		case len(f) == 6 && f[0] == "sentinel" && f[1] == "monitor":
			host = 3
		default:
			continue
		}
		ip := net.ParseIP(f[host])
		switch {
		case ip == nil:
			f[host] = "localhost"
		case !ip.IsLoopback():
			f[host] = nowhere
		default:
			continue
		}
		lines[i] = strings.Join(f, " ")
	}
	return strings.Join(lines, "\n")
}

// monitorLine is the master name, host and port of the sentinel monitor line of conf.
func monitorLine(t *testing.T, conf string) (name, host, port string) {
	t.Helper()
	for _, line := range strings.Split(conf, "\n") {
		if f := strings.Fields(line); len(f) == 6 && f[0] == "sentinel" && f[1] == "monitor" {
			return f[2], f[3], f[4]
		}
	}
	t.Fatalf("no sentinel monitor line in:\n%s", conf)
	return "", "", ""
}

// checkRedis: the redis process answers as a client and the kubelet see it.
func checkRedis(t *testing.T, cl *Cluster, rf *hooks.RedisFailover, p *redistest.Proc) {
	t.Helper()
	checkAuth(t, p)
	// Liveness: the rendered probe (redis-cli ping, with REDISCLI_AUTH) passes.
	live := renderedProbe(t, cl, "StatefulSet", hooks.RedisName(rf.Name), "redis", false)
	if ok, out := runProbe(t, live, p); live != nil && !ok {
		t.Fatalf("%s: the rendered liveness probe fails: %v\n%s", p.Name, live.Exec.Command, out)
	}
	// Readiness (ready.sh): not ready while the node replicates a master that does not answer
	// (the placeholder, or a bootstrap node), ready once it is master.
	ready := renderedProbe(t, cl, "StatefulSet", hooks.RedisName(rf.Name), "redis", true)
	if ready != nil && slices.Equal(ready.Exec.Command, []string{"sh", "/redis-readiness/ready.sh"}) {
		if ok, out := runProbe(t, ready, p); ok {
			t.Fatalf("%s: ready.sh says ready while the node replicates a master that does not answer\n%s", p.Name, out)
		}
	}
	require.NoError(t, p.Do("REPLICAOF", "NO", "ONE").Error(), p.Name)
	if ok, out := runProbe(t, ready, p); ready != nil && !ok {
		t.Fatalf("%s: the rendered readiness probe fails on a master: %v\n%s", p.Name, ready.Exec.Command, out)
	}
	// rename-command: the old name is gone, the new one (if any) is there.
	for _, rn := range rf.Spec.Redis.CustomCommandRenames {
		require.False(t, hasCommand(t, p, rn.From), "%s: command %s still exists; renamed to %q", p.Name, rn.From, rn.To)
		if rn.To != "" {
			require.True(t, hasCommand(t, p, rn.To), "%s: no command %s (the new name of %s)", p.Name, rn.To, rn.From)
		}
	}
}

// checkSentinel: the sentinel answers, monitors exactly the rendered master under the rendered
// name, and its rendered probes pass (readiness: only when it monitors a real master and, with
// more than one sentinel, knows its peers).
func checkSentinel(t *testing.T, cl *Cluster, rf *hooks.RedisFailover, p *redistest.Proc) {
	t.Helper()
	checkAuth(t, p)
	name, host, port := monitorLine(t, p.Conf)
	require.Equal(t, rf.Spec.Sentinel.MasterName, name, "master name of the monitor line")
	masters, err := p.Do("SENTINEL", "MASTERS").ToAny()
	require.NoError(t, err, p.Name)
	require.Equal(t, []string{name}, masterNames(masters), "%s: SENTINEL MASTERS", p.Name)
	addr, err := p.Do("SENTINEL", "GET-MASTER-ADDR-BY-NAME", name).ToAny()
	require.NoError(t, err, p.Name)
	got, _ := addr.([]any)
	require.Len(t, got, 2, "%s: SENTINEL GET-MASTER-ADDR-BY-NAME %s: %v", p.Name, name, addr)
	require.Equal(t, port, got[1], "%s: port of master %s", p.Name, name)
	isIP := net.ParseIP(host) != nil
	if isIP {
		require.Equal(t, host, got[0], "%s: address of master %s", p.Name, name)
	}

	live := renderedProbe(t, cl, "Deployment", hooks.SentinelName(rf.Name), "sentinel", false)
	if ok, out := runProbe(t, live, p); live != nil && !ok {
		t.Fatalf("%s: the rendered liveness probe fails: %v\n%s", p.Name, live.Exec.Command, out)
	}
	ready := renderedProbe(t, cl, "Deployment", hooks.SentinelName(rf.Name), "sentinel", true)
	if ready == nil || !isIP {
		return
	}
	ok, out := runProbe(t, ready, p)
	rendered := strings.Contains(strings.Join(ready.Exec.Command, " "), "get-master-addr-by-name")
	// Alone here, the sentinel knows no peer: where the probe also asks for quorum - 1 peers
	// (more than one sentinel), it must say not ready even with a real master. The clusters
	// of the other tests of this package see it Ready once the peers know each other.
	lone := strings.Contains(strings.Join(ready.Exec.Command, " "), "sentinel sentinels")
	switch want := host != "127.0.0.1" && !lone; {
	case rendered && ok != want:
		t.Fatalf("%s: the rendered readiness probe says ready=%v, monitoring %s (want %v)\n%s", p.Name, ok, host, want, out)
	case !rendered && !ok:
		t.Fatalf("%s: the readiness probe fails: %v\n%s", p.Name, ready.Exec.Command, out)
	}
}

// masterNames are the names in a SENTINEL MASTERS reply (RESP3 maps or RESP2 flat lists).
func masterNames(reply any) []string {
	list, _ := reply.([]any)
	names := []string{}
	for _, m := range list {
		switch m := m.(type) {
		case map[string]any:
			if n, ok := m["name"].(string); ok {
				names = append(names, n)
			}
		case []any:
			for i := 0; i+1 < len(m); i += 2 {
				if m[i] == "name" {
					n, _ := m[i+1].(string)
					names = append(names, n)
				}
			}
		}
	}
	return names
}

// hasCommand tells whether COMMAND INFO knows name: a renamed command is known under its new
// name only.
func hasCommand(t *testing.T, p *redistest.Proc, name string) bool {
	t.Helper()
	reply, err := p.Do("COMMAND", "INFO", name).ToAny()
	require.NoError(t, err, "%s: COMMAND INFO %s", p.Name, name)
	list, ok := reply.([]any)
	require.True(t, ok && len(list) == 1, "%s: COMMAND INFO %s: %v", p.Name, name, reply)
	return list[0] != nil
}

// checkAuth talks to p as a client application does, over a plain connection: with auth on,
// PING is refused (NOAUTH) until AUTH with the password; without, PING answers at once.
func checkAuth(t *testing.T, p *redistest.Proc) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", p.Addr(), time.Second)
	if err != nil && !p.Alive() {
		t.Fatalf("%s exited after it opened its port:\n%s", p.Name, logTail(p))
	}
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(2*time.Second)))
	r := bufio.NewReader(conn)
	do := func(args ...string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "*%d\r\n", len(args))
		for _, a := range args {
			fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
		}
		_, err := conn.Write([]byte(b.String()))
		require.NoError(t, err, "%s: %s", p.Name, args[0])
		line, err := r.ReadString('\n')
		require.NoError(t, err, "%s: reply to %s", p.Name, args[0])
		return strings.TrimRight(line, "\r\n")
	}
	if p.Password == "" {
		require.Equal(t, "+PONG", do("PING"), "%s: PING", p.Name)
		return
	}
	require.True(t, strings.HasPrefix(do("PING"), "-NOAUTH"), "%s: PING without AUTH is not refused: auth is off", p.Name)
	require.Equal(t, "+OK", do("AUTH", p.Password), "%s: AUTH with the password", p.Name)
	require.Equal(t, "+PONG", do("PING"), "%s: PING after AUTH", p.Name)
}

// renderedProbe is the readiness (or liveness) probe of container name in the rendered
// workload; nil when it is not an exec probe (a tcpSocket probe: PING covers it).
func renderedProbe(t *testing.T, cl *Cluster, kind, workload, container string, readiness bool) *corev1.Probe {
	t.Helper()
	w, err := cl.child(kind, workload)
	require.NoError(t, err)
	for _, c := range w.Spec.Template.Spec.Containers {
		if c.Name != container {
			continue
		}
		p := c.LivenessProbe
		if readiness {
			p = c.ReadinessProbe
		}
		if p == nil || p.Exec == nil || !locatable(p.Exec.Command) {
			return nil
		}
		return p
	}
	t.Fatalf("%s %s has no container %s", kind, workload, container)
	return nil
}

// locatable tells whether a probe command reaches the process at REDIS_HOST, as every probe
// redhook renders does (ready.sh reads it too). A user's custom probe, or a child rendered by an
// older version and kept as last applied, may name 127.0.0.1: right in a pod, where the
// container listens on every address, but locally the process listens on its own 127.0.x.y
// only, so such a probe is not run here.
func locatable(argv []string) bool {
	return slices.Equal(argv, []string{"sh", "/redis-readiness/ready.sh"}) ||
		strings.Contains(strings.Join(argv, " "), "${REDIS_HOST:-127.0.0.1}")
}

// runProbe runs an exec probe as the kubelet would, with the pod's mounts mapped to p's
// directories, the pod's address in REDIS_HOST and the password in REDISCLI_AUTH (as
// Cluster.probe does). A nil probe passes.
func runProbe(t *testing.T, probe *corev1.Probe, p *redistest.Proc) (ok bool, out string) {
	t.Helper()
	if probe == nil {
		return true, ""
	}
	argv := probe.Exec.Command
	args := make([]string, len(argv))
	for i, a := range argv {
		args[i] = mapMounts(a, p.Dir)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "REDIS_HOST="+p.IP, "REDIS_PORT="+strconv.Itoa(p.Port))
	if p.Password != "" {
		cmd.Env = append(cmd.Env, "REDISCLI_AUTH="+p.Password)
	}
	b, err := cmd.CombinedOutput()
	return err == nil, fmt.Sprintf("%s(%v)", b, err)
}

// checkAlive: one second after their start, the processes still run and answer; a process
// expected to exit (bootExits) has exited with its line in the log.
func (b *bootedCase) checkAlive(t *testing.T) {
	for _, p := range b.procs() {
		if p == b.redis && b.redisExit != "" {
			log, err := os.ReadFile(p.LogPath())
			require.NoError(t, err)
			if p.Alive() || !strings.Contains(string(log), b.redisExit) {
				t.Errorf("%s: want an exit with %q in the log (alive=%v); if it now boots, remove it from bootExits\n%s",
					p.Name, b.redisExit, p.Alive(), logTail(p))
			}
			continue
		}
		if !p.Alive() {
			t.Errorf("%s exited within a second of its start:\n%s", p.Name, logTail(p))
			continue
		}
		if err := p.Do("PING").Error(); err != nil {
			t.Errorf("%s: PING one second after the start: %v\n%s", p.Name, err, logTail(p))
		}
	}
}

// logTail is the end of p's log.
func logTail(p *redistest.Proc) string {
	b, err := os.ReadFile(p.LogPath())
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-20):], "\n")
}

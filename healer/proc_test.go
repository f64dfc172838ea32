package healer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redhook/redhook/healer/decision"
	"github.com/redhook/redhook/hooks"
	"github.com/redis/rueidis"
	"github.com/stretchr/testify/require"
)

// This file runs real redis-server and redis-sentinel processes for the integration tests, each
// on its own loopback address with the standard ports. Config files and data live in
// t.TempDir(); every process is killed (with its process group, so a replication fork dies
// too) in t.Cleanup.
//
// Loopback trap (design.md §8): a process bound to 127.0.x.y connects out from 127.0.0.1 unless
// told otherwise, and Sentinel then sees every peer as 127.0.0.1. Every config below sets
// bind-source-addr and the announce address.

// requireRedis skips the test when redis-server is not installed, except in CI (CI set), where
// `make test` installs it and its absence is a failure.
func requireRedis(t testing.TB) {
	t.Helper()
	for _, bin := range []string{"redis-server", "redis-sentinel"} {
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv("CI") == "" {
				t.Skipf("%s not installed (apt-get install redis-server redis-sentinel)", bin)
			}
			t.Fatalf("%s not installed in CI: %v", bin, err)
		}
	}
}

var (
	subnetMu   sync.Mutex
	nextSubnet = 180
)

// subnet returns a third octet of 127.0.x.0 that no other test uses, in this process or in
// another test process running at the same time (a developer's second `go test`): each subnet
// is claimed with an flock on a file in the temporary directory, held until the test ends.
func subnet(t testing.TB) int {
	t.Helper()
	subnetMu.Lock()
	defer subnetMu.Unlock()
	for ; nextSubnet <= 254; nextSubnet++ {
		name := filepath.Join(os.TempDir(), fmt.Sprintf("redhook-test-127.0.%d.lock", nextSubnet))
		f, err := os.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o600)
		require.NoError(t, err, "subnet lock")
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close() // another test process holds it
			continue
		}
		t.Cleanup(func() { f.Close() })
		nextSubnet++
		return nextSubnet - 1
	}
	t.Fatal("out of loopback subnets")
	return 0
}

// proc is one redis-server or redis-sentinel process.
type proc struct {
	t        testing.TB
	name     string
	ip       string
	port     int
	sentinel bool
	dir      string
	conf     string // config file contents written at every (re)start unless keepConf

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

func (p *proc) addr() string { return net.JoinHostPort(p.ip, fmt.Sprint(p.port)) }

// start writes the config and starts the process, then waits until it accepts connections.
func (p *proc) start() {
	t := p.t
	t.Helper()
	file := filepath.Join(p.dir, "redis.conf")
	require.NoError(t, os.WriteFile(file, []byte(p.conf), 0o600))
	bin := "redis-server"
	args := []string{file}
	if p.sentinel {
		bin = "redis-sentinel"
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = p.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start(), "start %s", p.name)
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait() // killed on purpose most of the time; the exit status says nothing
		close(done)
	}()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", p.addr(), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-done:
			log, _ := os.ReadFile(filepath.Join(p.dir, "log"))
			t.Fatalf("%s exited at start:\n%s", p.name, log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not listening on %s: %v", p.name, p.addr(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill sends SIGKILL to the process group and waits for the process to be gone.
func (p *proc) kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the group may be gone already
	<-done
}

// signal sends sig (SIGSTOP, SIGCONT…) to the process.
func (p *proc) signal(sig syscall.Signal) {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	require.NotNil(p.t, cmd, "%s is not running", p.name)
	require.NoError(p.t, cmd.Process.Signal(sig), "signal %s", p.name)
}

// wipe removes the data directory's files except the config and log, as a restart on an empty
// volume would.
func (p *proc) wipe() {
	entries, err := os.ReadDir(p.dir)
	require.NoError(p.t, err)
	for _, e := range entries {
		if e.Name() != "log" {
			require.NoError(p.t, os.RemoveAll(filepath.Join(p.dir, e.Name())))
		}
	}
}

// clusterOpts shapes a test RedisFailover.
type clusterOpts struct {
	redis, sentinels int
	password         string
	downAfter        int // milliseconds
	// noStart leaves the processes stopped; start them with startAll or one by one.
	noStart bool
}

// cluster is one RedisFailover of real processes and the topology the healer gets for it.
type cluster struct {
	t         testing.TB
	name      string
	net       int
	opts      clusterOpts
	redis     []*proc
	sentinels []*proc
	topo      hooks.Topology

	// extras are processes outside the topology (a foreign master, a ghost replica…).
	extras []*proc

	clientsMu sync.Mutex
	clients   map[string]rueidis.Client
}

// extra starts a redis process outside the topology on 127.0.<net>.<host>. replicaOf empty
// makes it a master.
func (c *cluster) extra(name string, host int, replicaOf string) *proc {
	c.t.Helper()
	p := c.newProc(name, fmt.Sprintf("127.0.%d.%d", c.net, host), 6379, false)
	conf := c.redisConf(p)
	placeholder := fmt.Sprintf("replicaof %s %d\n", c.topo.Placeholder.Host, c.topo.Placeholder.Port)
	if replicaOf == "" {
		conf = strings.Replace(conf, placeholder, "", 1)
	} else {
		conf = strings.Replace(conf, placeholder, "replicaof "+replicaOf+" 6379\n", 1)
	}
	p.conf = conf
	c.extras = append(c.extras, p)
	p.start()
	return p
}

func newCluster(t testing.TB, name string, opts clusterOpts) *cluster {
	t.Helper()
	requireRedis(t)
	if opts.downAfter == 0 {
		opts.downAfter = 1000
	}
	c := &cluster{t: t, name: name, net: subnet(t), opts: opts, clients: map[string]rueidis.Client{}}
	c.topo = hooks.Topology{Namespace: "test", Name: name, MasterName: "mymaster", RedisPort: 6379,
		SentinelPort: 26379, Quorum: int32(opts.sentinels/2 + 1), SentinelsEnabled: true,
		RedisReplicas: int32(opts.redis), SentinelReplicas: int32(opts.sentinels),
		Password:    hooks.NewSecret(opts.password),
		Placeholder: hooks.Endpoint{Host: "127.0.0.1", Port: 1},
		SentinelConfig: []hooks.ConfigEntry{{Key: "down-after-milliseconds", Value: fmt.Sprint(opts.downAfter)},
			{Key: "failover-timeout", Value: "10000"}, {Key: "parallel-syncs", Value: "2"}}}
	for i := 0; i < opts.redis; i++ {
		p := c.newProc(fmt.Sprintf("rfr-%s-%d", name, i), fmt.Sprintf("127.0.%d.%d", c.net, i+1), 6379, false)
		p.conf = c.redisConf(p)
		c.redis = append(c.redis, p)
		c.topo.Redis = append(c.topo.Redis, hooks.PodRef{Name: p.name, IP: p.ip, Ordinal: i, Ready: true})
	}
	for i := 0; i < opts.sentinels; i++ {
		p := c.newProc(fmt.Sprintf("rfs-%s-%c", name, 'a'+i), fmt.Sprintf("127.0.%d.%d", c.net, 101+i), 26379, true)
		p.conf = c.sentinelConf(p, "127.0.0.1", 6379)
		c.sentinels = append(c.sentinels, p)
		c.topo.Sentinels = append(c.topo.Sentinels, hooks.PodRef{Name: p.name, IP: p.ip, Ordinal: -1, Ready: true})
	}
	t.Cleanup(c.stop)
	if !opts.noStart {
		c.startAll()
	}
	return c
}

func (c *cluster) newProc(name, ip string, port int, sentinel bool) *proc {
	dir := filepath.Join(c.t.TempDir(), name)
	require.NoError(c.t, os.MkdirAll(dir, 0o700))
	return &proc{t: c.t, name: name, ip: ip, port: port, sentinel: sentinel, dir: dir}
}

// redisConf is what hooks renders (boot as a replica of the placeholder, auth) plus the local
// overrides: address, announce address, data directory, no persistence, fast full syncs.
func (c *cluster) redisConf(p *proc) string {
	var b strings.Builder
	fmt.Fprintf(&b, "port %d\nbind %s\nbind-source-addr %s\nreplica-announce-ip %s\n", p.port, p.ip, p.ip, p.ip)
	fmt.Fprintf(&b, "dir %s\nlogfile %s\n", p.dir, filepath.Join(p.dir, "log"))
	b.WriteString("save \"\"\nappendonly no\nrepl-diskless-sync-delay 0\n")
	fmt.Fprintf(&b, "replicaof %s %d\n", c.topo.Placeholder.Host, c.topo.Placeholder.Port)
	if c.opts.password != "" {
		fmt.Fprintf(&b, "requirepass %q\nmasterauth %q\n", c.opts.password, c.opts.password)
	} else {
		b.WriteString("protected-mode no\n")
	}
	return b.String()
}

// sentinelConf is the rendered sentinel.conf (monitor line naming host) plus local overrides.
func (c *cluster) sentinelConf(p *proc, host string, port int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "port %d\nbind %s\nbind-source-addr %s\nsentinel announce-ip %s\n", p.port, p.ip, p.ip, p.ip)
	fmt.Fprintf(&b, "dir %s\nlogfile %s\n", p.dir, filepath.Join(p.dir, "log"))
	if host != "" {
		fmt.Fprintf(&b, "sentinel monitor mymaster %s %d %d\n", host, port, c.topo.Quorum)
		for _, e := range c.topo.SentinelConfig {
			fmt.Fprintf(&b, "sentinel %s mymaster %s\n", e.Key, e.Value)
		}
	}
	if c.opts.password != "" {
		fmt.Fprintf(&b, "requirepass %q\nsentinel sentinel-pass %q\n", c.opts.password, c.opts.password)
		if host != "" {
			fmt.Fprintf(&b, "sentinel auth-pass mymaster %q\n", c.opts.password)
		}
	} else {
		b.WriteString("protected-mode no\n")
	}
	return b.String()
}

func (c *cluster) startAll() {
	for _, p := range append(append([]*proc{}, c.redis...), c.sentinels...) {
		p.start()
	}
}

func (c *cluster) stop() {
	c.clientsMu.Lock()
	for _, cl := range c.clients {
		cl.Close()
	}
	c.clients = map[string]rueidis.Client{}
	c.clientsMu.Unlock()
	procs := append(append(append([]*proc{}, c.redis...), c.sentinels...), c.extras...)
	for _, p := range procs {
		p.kill()
	}
	if c.t.Failed() || os.Getenv("REDHOOK_TEST_LOGS") != "" {
		c.keepLogs(procs)
	}
}

// keepLogs copies the processes' log files into $REDHOOK_TEST_LOGS/<test>/ when that is set (for
// every test then, failed or not), so that a run can be read after t.TempDir is gone; otherwise,
// for a failed test, it prints their last lines.
func (c *cluster) keepLogs(procs []*proc) {
	dir := os.Getenv("REDHOOK_TEST_LOGS")
	for _, p := range procs {
		log, err := os.ReadFile(filepath.Join(p.dir, "log"))
		if err != nil {
			continue
		}
		if dir == "" {
			lines := strings.Split(strings.TrimRight(string(log), "\n"), "\n")
			c.t.Logf("last lines of %s's log (set REDHOOK_TEST_LOGS=DIR to keep them whole):\n%s",
				p.name, strings.Join(lines[max(0, len(lines)-15):], "\n"))
			continue
		}
		out := filepath.Join(dir, strings.ReplaceAll(c.t.Name(), "/", "_"))
		if err := os.MkdirAll(out, 0o755); err == nil {
			err = os.WriteFile(filepath.Join(out, p.name+".log"), log, 0o644)
		}
		if err != nil {
			c.t.Logf("keep %s's log: %v", p.name, err)
		}
	}
}

// sentinelClient is a Sentinel-aware client of the master, as an application would use: it
// finds the master through the sentinels and follows +switch-master. The caller closes it.
func (c *cluster) sentinelClient(t *testing.T) rueidis.Client {
	t.Helper()
	var addrs []string
	for _, s := range c.sentinels {
		addrs = append(addrs, s.addr())
	}
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: addrs, Password: c.opts.password,
		Sentinel:     rueidis.SentinelOption{MasterSet: "mymaster", Password: c.opts.password},
		DisableCache: true, ClientSetInfo: rueidis.DisableClientSetInfo,
		Dialer: net.Dialer{Timeout: 200 * time.Millisecond}, ConnWriteTimeout: 500 * time.Millisecond})
	require.NoError(t, err)
	return client
}

// client returns the test's own client of a process (not the healer's).
func (c *cluster) client(p *proc) (rueidis.Client, error) {
	c.clientsMu.Lock()
	defer c.clientsMu.Unlock()
	if cl, ok := c.clients[p.addr()]; ok {
		return cl, nil
	}
	cl, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{p.addr()}, Password: c.opts.password,
		DisableCache: true, ForceSingleClient: true, ClientSetInfo: rueidis.DisableClientSetInfo,
		Dialer: net.Dialer{Timeout: 300 * time.Millisecond}, ConnWriteTimeout: time.Second, DisableRetry: true})
	if err != nil {
		return nil, err
	}
	c.clients[p.addr()] = cl
	return cl, nil
}

// reply is a command's result, or the error of getting a client.
type reply struct {
	res rueidis.RedisResult
	err error
}

func (r reply) Error() error {
	if r.err != nil {
		return r.err
	}
	return r.res.Error()
}

func (r reply) ToString() (string, error) {
	if r.err != nil {
		return "", r.err
	}
	return r.res.ToString()
}

func (r reply) AsInt64() (int64, error) {
	if r.err != nil {
		return 0, r.err
	}
	return r.res.AsInt64()
}

func (r reply) ToAny() (any, error) {
	if r.err != nil {
		return nil, r.err
	}
	return r.res.ToAny()
}

// do runs one command on a process with a deadline.
func (c *cluster) do(p *proc, args ...string) reply {
	cl, err := c.client(p)
	if err != nil {
		return reply{err: err}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return reply{res: cl.Do(ctx, cl.B().Arbitrary(args[0]).Args(args[1:]...).Build())}
}

// info reads INFO server replication keyspace of a redis process.
func (c *cluster) info(p *proc) (decision.RedisInfo, error) {
	text, err := c.do(p, "INFO", "server", "replication", "keyspace").ToString()
	if err != nil {
		return decision.RedisInfo{}, fmt.Errorf("%s: %w", p.name, err)
	}
	return decision.ParseRedisInfo(text)
}

// sentinelMaster is the address a sentinel gives for the master name; "" when none.
func (c *cluster) sentinelMaster(p *proc) (string, error) {
	v, err := c.do(p, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster").ToAny()
	if rueidis.IsRedisNil(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", p.name, err)
	}
	a, ok := v.([]any)
	if !ok || len(a) != 2 {
		return "", fmt.Errorf("%s: get-master-addr-by-name: %v", p.name, v)
	}
	return fmt.Sprint(a[0]), nil
}

// redisByIP finds the redis process of an address.
func (c *cluster) redisByIP(ip string) *proc {
	for _, p := range c.redis {
		if p.ip == ip {
			return p
		}
	}
	return nil
}

// converged returns nil when exactly one reachable redis is master, every other reachable
// redis replicates it with its link up, and every reachable sentinel names it. skip lists
// processes that are down on purpose.
func (c *cluster) converged(skip ...*proc) (*proc, error) {
	down := map[*proc]bool{}
	for _, p := range skip {
		down[p] = true
	}
	var master *proc
	infos := map[*proc]decision.RedisInfo{}
	for _, p := range c.redis {
		if down[p] {
			continue
		}
		info, err := c.info(p)
		if err != nil {
			return nil, err
		}
		infos[p] = info
		if info.Role == hooks.RoleMaster {
			if master != nil {
				return nil, fmt.Errorf("two masters: %s and %s", master.name, p.name)
			}
			master = p
		}
	}
	if master == nil {
		return nil, errors.New("no master")
	}
	for p, info := range infos {
		if p != master && (info.MasterHost != master.ip || !info.LinkUp || info.Syncing) {
			return nil, fmt.Errorf("%s: replica of %s:%d link up %v syncing %v, master is %s",
				p.name, info.MasterHost, info.MasterPort, info.LinkUp, info.Syncing, master.name)
		}
	}
	for _, s := range c.sentinels {
		if down[s] {
			continue
		}
		got, err := c.sentinelMaster(s)
		if err != nil {
			return nil, err
		}
		if got != master.ip {
			return nil, fmt.Errorf("%s monitors %q, master is %s", s.name, got, master.ip)
		}
		if err := c.timingsSet(s); err != nil {
			return nil, err
		}
	}
	return master, nil
}

// timingsSet tells whether sentinel s runs with the timing parameters of rule 12.
func (c *cluster) timingsSet(s *proc) error {
	v, err := c.do(s, "SENTINEL", "DEBUG").ToAny()
	if err != nil {
		return fmt.Errorf("%s: SENTINEL DEBUG: %w", s.name, err)
	}
	debug, err := decision.ParseSentinelDebug(v)
	if err != nil {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	for key, millis := range decision.SentinelTimings() {
		if got := debug[key]; got != millis {
			return fmt.Errorf("%s: SENTINEL DEBUG %s is %d, want %d", s.name, key, got, millis)
		}
	}
	return nil
}

// waitFor polls check until it returns nil or the timeout passes, and returns the time taken.
func waitFor(t *testing.T, timeout time.Duration, what string, check func() error) time.Duration {
	t.Helper()
	start := time.Now()
	var err error
	for time.Since(start) < timeout {
		if err = check(); err == nil {
			return time.Since(start)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not within %v: %v", what, timeout, err)
	return 0
}

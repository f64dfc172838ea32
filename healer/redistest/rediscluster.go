package redistest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// ShardedOptions shapes a Sharded cluster (Redis Cluster mode).
type ShardedOptions struct {
	// Shards is the number of shards started; PerShard the pods of each (a master and
	// PerShard-1 replicas once formed).
	Shards, PerShard int
	// Password is every node's requirepass and masterauth.
	Password string
	// NodeTimeout is cluster-node-timeout; 2 s when zero.
	NodeTimeout time.Duration
	// RedisConfig are extra lines of every node's redis.conf.
	RedisConfig []string
	// NoStart leaves the processes stopped.
	NoStart bool
}

// Sharded is redis-server processes in cluster mode (cluster-enabled yes), as the pods of a
// sharded Redis: shard k's pod i is named rdc-<name>-<k>-<i> and listens on
// 127.0.<Subnet>.<1+10k+i>:6379 (cluster bus on 16379), its nodes.conf in its own directory
// (kept across Restart, removed by Wipe). They boot unformed: each node knows only itself and
// no slot is assigned, until someone (the healer) forms the cluster. At most 10 shards of 10
// pods; replacements (Replace) take hosts from 201 up.
type Sharded struct {
	Name   string
	Subnet int
	Opts   ShardedOptions
	// Shards[k][i] is shard k's pod i.
	Shards [][]*Proc
	t      TB
	// nextSpare is the host of the next replacement.
	nextSpare int
}

// ShardedPodName is the name of shard k's pod i of cluster name.
func ShardedPodName(name string, shard, ordinal int) string {
	return fmt.Sprintf("rdc-%s-%d-%d", name, shard, ordinal)
}

// NewSharded makes (and, unless o.NoStart, starts) the processes of a sharded cluster on a
// subnet of its own. It skips or fails the test as Require does when redis-server is missing.
func NewSharded(t TB, name string, o ShardedOptions) *Sharded {
	t.Helper()
	Require(t, RedisServer)
	if o.NodeTimeout == 0 {
		o.NodeTimeout = 2 * time.Second
	}
	if o.Shards > 10 || o.PerShard > 10 || o.PerShard < 1 {
		t.Fatalf("sharded %s: %d shards of %d pods: 1 to 10 pods, at most 10 shards", name, o.Shards, o.PerShard)
		return nil
	}
	c := &Sharded{Name: name, Subnet: Subnet(t), Opts: o, t: t, nextSpare: 201}
	for range o.Shards {
		c.newShard()
	}
	if !o.NoStart {
		for _, p := range c.Procs() {
			p.Start()
		}
	}
	return c
}

// IP is 127.0.<Subnet>.<host>.
func (c *Sharded) IP(host int) string { return fmt.Sprintf("127.0.%d.%d", c.Subnet, host) }

func (c *Sharded) newProc(shard, ordinal, host int) *Proc {
	p := NewProc(c.t, RedisServer, ShardedPodName(c.Name, shard, ordinal), c.IP(host), RedisPort)
	p.Password = c.Opts.Password
	p.Conf = c.ShardedConf(p)
	return p
}

func (c *Sharded) newShard() []*Proc {
	k := len(c.Shards)
	var procs []*Proc
	for i := range c.Opts.PerShard {
		procs = append(procs, c.newProc(k, i, 1+10*k+i))
	}
	c.Shards = append(c.Shards, procs)
	return procs
}

// AddShard makes and starts one more shard (scale-out) and returns its processes.
func (c *Sharded) AddShard() []*Proc {
	c.t.Helper()
	if len(c.Shards) >= 10 {
		c.t.Fatalf("sharded %s: at most 10 shards", c.Name)
		return nil
	}
	procs := c.newShard()
	for _, p := range procs {
		p.Start()
	}
	return procs
}

// RemoveShard kills the processes of the last shard and drops it (the StatefulSet deleted
// after scale-in).
func (c *Sharded) RemoveShard() {
	c.t.Helper()
	last := c.Shards[len(c.Shards)-1]
	for _, p := range last {
		p.Kill()
	}
	c.Shards = c.Shards[:len(c.Shards)-1]
}

// Replace kills shard k's pod i and puts in its place a fresh process (no nodes.conf, no data)
// under the same name at a new address, as a pod rescheduled with a new IP and an empty
// volume, and starts it.
func (c *Sharded) Replace(shard, ordinal int) *Proc {
	c.t.Helper()
	c.Shards[shard][ordinal].Kill()
	if c.nextSpare > 254 {
		c.t.Fatalf("sharded %s: no spare address left", c.Name)
		return nil
	}
	p := c.newProc(shard, ordinal, c.nextSpare)
	c.nextSpare++
	c.Shards[shard][ordinal] = p
	p.Start()
	return p
}

// Move kills shard k's pod i and starts it again at a new address with its nodes.conf (same
// node ID, no data), as a pod rescheduled with a new IP that kept its volume.
func (c *Sharded) Move(shard, ordinal int) *Proc {
	c.t.Helper()
	old := c.Shards[shard][ordinal]
	old.Kill()
	conf, err := os.ReadFile(filepath.Join(old.Dir, "nodes.conf"))
	if err != nil {
		c.t.Fatalf("move %s: %v", old.Name, err)
		return nil
	}
	if c.nextSpare > 254 {
		c.t.Fatalf("sharded %s: no spare address left", c.Name)
		return nil
	}
	p := c.newProc(shard, ordinal, c.nextSpare)
	c.nextSpare++
	if err := os.WriteFile(filepath.Join(p.Dir, "nodes.conf"), conf, 0o600); err != nil {
		c.t.Fatalf("move %s: %v", old.Name, err)
		return nil
	}
	c.Shards[shard][ordinal] = p
	p.Start()
	return p
}

// ShardedConf is p's config: RedisConf(p) (bind, source and announce addresses, no
// persistence), cluster mode with its nodes.conf in p's directory, the node timeout, the
// announced address (the pod IP), and Options.RedisConfig.
func (c *Sharded) ShardedConf(p *Proc) string {
	var b strings.Builder
	b.WriteString(RedisConf(p))
	fmt.Fprintf(&b, "cluster-enabled yes\ncluster-config-file nodes.conf\ncluster-node-timeout %d\ncluster-announce-ip %s\n",
		c.Opts.NodeTimeout.Milliseconds(), p.IP)
	for _, l := range c.Opts.RedisConfig {
		b.WriteString(l + "\n")
	}
	return b.String()
}

// Procs are every process, shard by shard.
func (c *Sharded) Procs() []*Proc {
	var out []*Proc
	for _, s := range c.Shards {
		out = append(out, s...)
	}
	return out
}

// Addrs are the addresses of the running processes.
func (c *Sharded) Addrs() []string {
	var out []string
	for _, p := range c.Procs() {
		if p.Alive() {
			out = append(out, p.Addr())
		}
	}
	return out
}

// ClusterClient is a cluster-aware rueidis client, as an application uses: it reads the slot
// map and follows MOVED and ASK redirections. The caller closes it.
func (c *Sharded) ClusterClient(t TB) rueidis.Client {
	t.Helper()
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: c.Addrs(), Password: c.Opts.Password,
		DisableCache: true, ClientSetInfo: rueidis.DisableClientSetInfo,
		Dialer: net.Dialer{Timeout: 300 * time.Millisecond}, ConnWriteTimeout: time.Second})
	if err != nil {
		t.Fatalf("cluster client of %s: %v", c.Name, err)
		return nil
	}
	return client
}

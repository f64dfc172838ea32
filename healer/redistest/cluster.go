package redistest

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// What a Cluster's processes use, as the rendered configuration of a RedisFailover does.
const (
	MasterName   = "mymaster"
	RedisPort    = 6379
	SentinelPort = 26379
	// PlaceholderHost:PlaceholderPort is the master every redis-server of a Cluster boots as a
	// replica of (unless Options.Replicated): nothing listens there, so a fresh process holds
	// no data and takes no writes until someone names its master.
	PlaceholderHost = "127.0.0.1"
	PlaceholderPort = 1
	// initialMonitorHost:RedisPort is what every sentinel of a Cluster monitors at boot
	// (unless Options.Replicated), as the rendered sentinel.conf before a master is known.
	initialMonitorHost = "127.0.0.1"
)

// Setting is one key and value of the monitored master's Sentinel settings
// (`sentinel <key> mymaster <value>`).
type Setting struct {
	Key, Value string
}

// Options shapes a Cluster.
type Options struct {
	Redis, Sentinels int
	// Password is every process's requirepass, masterauth, sentinel-pass and auth-pass.
	Password string
	// OpenSentinels: the sentinels require no password (a RedisFailover without
	// spec.auth.sentinel, as in spotahome); they still use Password towards redis (auth-pass).
	OpenSentinels bool
	// DownAfter is Sentinel's down-after-milliseconds; 1 s when zero.
	DownAfter time.Duration
	// Monitor adds settings of the monitored master after the defaults (down-after,
	// failover-timeout 10000, parallel-syncs 2); a key given twice takes the last value.
	Monitor []Setting
	// RedisConfig and SentinelConfig are extra lines appended to every redis.conf (Extra
	// processes' too) and every sentinel.conf.
	RedisConfig, SentinelConfig []string
	// Replicated boots Redis[0] as master, the others as its replicas and every sentinel
	// monitoring it. Without it (as the rendered configuration boots), every redis-server is a
	// replica of the placeholder and every sentinel monitors 127.0.0.1:6379, until someone
	// (the healer) forms the replication.
	Replicated bool
	// NoStart leaves the processes stopped: start them with StartAll or one by one.
	NoStart bool
}

// Cluster is N redis-server and M redis-sentinel processes of one master name on a subnet of
// their own: redis i on 127.0.<Subnet>.<i+1>:6379, named rfr-<name>-<i>, sentinel j on
// 127.0.<Subnet>.<101+j>:26379, named rfs-<name>-<a+j> (the pod names of a RedisFailover).
type Cluster struct {
	Name   string
	Subnet int
	// Opts are the options with their defaults filled in.
	Opts Options
	// Quorum is a majority of the sentinels.
	Quorum    int
	Redis     []*Proc
	Sentinels []*Proc
	// Extras are processes outside the cluster (a foreign master, a ghost replica…) made by
	// Extra.
	Extras []*Proc

	t TB
}

// NewCluster makes the processes of a cluster and, unless o.NoStart, starts them. It skips or
// fails the test as Require does when a binary is missing. Everything is killed at the test's
// cleanup, before the subnet is released.
func NewCluster(t TB, name string, o Options) *Cluster {
	t.Helper()
	Require(t)
	if o.DownAfter == 0 {
		o.DownAfter = time.Second
	}
	if o.Redis > 100 || o.Sentinels > 100 {
		t.Fatalf("cluster %s: %d redis and %d sentinels: at most 100 of each fit a subnet", name, o.Redis, o.Sentinels)
		return nil
	}
	c := &Cluster{Name: name, Subnet: Subnet(t), Opts: o, Quorum: o.Sentinels/2 + 1, t: t}
	for i := range o.Redis {
		p := c.newProc(RedisServer, fmt.Sprintf("rfr-%s-%d", name, i), i+1, RedisPort)
		switch {
		case !o.Replicated:
			p.Conf = c.RedisConf(p, PlaceholderHost, PlaceholderPort)
		case i == 0:
			p.Conf = c.RedisConf(p, "", 0)
		default:
			p.Conf = c.RedisConf(p, c.Redis[0].IP, RedisPort)
		}
		c.Redis = append(c.Redis, p)
	}
	monitor := initialMonitorHost
	if o.Replicated && o.Redis > 0 {
		monitor = c.Redis[0].IP
	}
	for j := range o.Sentinels {
		p := c.newProc(RedisSentinel, fmt.Sprintf("rfs-%s-%c", name, 'a'+j), 101+j, SentinelPort)
		p.Conf = c.SentinelConf(p, monitor, RedisPort)
		c.Sentinels = append(c.Sentinels, p)
	}
	if !o.NoStart {
		c.StartAll()
	}
	return c
}

func (c *Cluster) newProc(bin, name string, host, port int) *Proc {
	c.t.Helper()
	p := NewProc(c.t, bin, name, c.IP(host), port)
	p.Password = c.Opts.Password
	if p.Sentinel() && c.Opts.OpenSentinels {
		p.Password = ""
	}
	return p
}

// IP is 127.0.<Subnet>.<host>.
func (c *Cluster) IP(host int) string { return fmt.Sprintf("127.0.%d.%d", c.Subnet, host) }

// Extra starts a redis-server outside the cluster on 127.0.<Subnet>.<host>:6379 (host above
// the number of redis processes and below 101 stays clear of the cluster's own), with the
// cluster's password: a replica of replicaOf:6379, or a master when replicaOf is empty.
func (c *Cluster) Extra(name string, host int, replicaOf string) *Proc {
	c.t.Helper()
	p := c.newProc(RedisServer, name, host, RedisPort)
	if replicaOf == "" {
		p.Conf = c.RedisConf(p, "", 0)
	} else {
		p.Conf = c.RedisConf(p, replicaOf, RedisPort)
	}
	c.Extras = append(c.Extras, p)
	p.Start()
	return p
}

// StartAll starts the redis processes, then the sentinels.
func (c *Cluster) StartAll() {
	c.t.Helper()
	for _, p := range append(append([]*Proc{}, c.Redis...), c.Sentinels...) {
		p.Start()
	}
}

// Procs are the redis processes, the sentinels and the extras.
func (c *Cluster) Procs() []*Proc {
	return append(append(append([]*Proc{}, c.Redis...), c.Sentinels...), c.Extras...)
}

// RedisByIP is the redis process (of the cluster, or an extra) at ip; nil when none.
func (c *Cluster) RedisByIP(ip string) *Proc {
	for _, p := range append(append([]*Proc{}, c.Redis...), c.Extras...) {
		if p.IP == ip {
			return p
		}
	}
	return nil
}

// MonitorSettings are the monitored master's settings every sentinel.conf of the cluster
// carries, in order: down-after-milliseconds, failover-timeout, parallel-syncs, then
// Options.Monitor. A test that describes the cluster to the healer passes these on, so that
// the healer finds no drift to heal.
func (c *Cluster) MonitorSettings() []Setting {
	s := []Setting{{"down-after-milliseconds", strconv.FormatInt(c.Opts.DownAfter.Milliseconds(), 10)},
		{"failover-timeout", "10000"}, {"parallel-syncs", "2"}}
	return append(s, c.Opts.Monitor...)
}

// RedisConf is p's config in this cluster: RedisConf(p), a replicaof line naming host:port
// (none when host is empty: a master) and Options.RedisConfig.
func (c *Cluster) RedisConf(p *Proc, host string, port int) string {
	var b strings.Builder
	b.WriteString(RedisConf(p))
	if host != "" {
		fmt.Fprintf(&b, "replicaof %s %d\n", host, port)
	}
	for _, l := range c.Opts.RedisConfig {
		b.WriteString(l + "\n")
	}
	return b.String()
}

// SentinelConf is sentinel p's config in this cluster: SentinelConf(p), a monitor line naming
// host:port with the quorum, MonitorSettings and the master's auth-pass (none of these when
// host is empty: a sentinel.conf lost with its emptyDir), and Options.SentinelConfig.
func (c *Cluster) SentinelConf(p *Proc, host string, port int) string {
	var b strings.Builder
	b.WriteString(SentinelConf(p))
	if host != "" {
		fmt.Fprintf(&b, "sentinel monitor %s %s %d %d\n", MasterName, host, port, c.Quorum)
		for _, s := range c.MonitorSettings() {
			fmt.Fprintf(&b, "sentinel %s %s %s\n", s.Key, MasterName, s.Value)
		}
		if c.Opts.Password != "" {
			fmt.Fprintf(&b, "sentinel auth-pass %s %q\n", MasterName, c.Opts.Password)
		}
	}
	for _, l := range c.Opts.SentinelConfig {
		b.WriteString(l + "\n")
	}
	return b.String()
}

// SentinelAddrs are the sentinels' host:port.
func (c *Cluster) SentinelAddrs() []string {
	var addrs []string
	for _, s := range c.Sentinels {
		addrs = append(addrs, s.Addr())
	}
	return addrs
}

// SentinelClient is a Sentinel-aware client of the master, as an application uses: it finds
// the master through the sentinels and follows +switch-master. The caller closes it (before
// the test's end: the processes are killed at its cleanup).
func (c *Cluster) SentinelClient(t TB) rueidis.Client {
	t.Helper()
	client, err := NewSentinelClient(c.SentinelAddrs(), MasterName, c.Opts.Password, c.sentinelPassword())
	if err != nil {
		t.Fatalf("sentinel client of %s: %v", c.Name, err)
		return nil
	}
	return client
}

// sentinelPassword is what the sentinels require: Password, unless OpenSentinels.
func (c *Cluster) sentinelPassword() string {
	if c.Opts.OpenSentinels {
		return ""
	}
	return c.Opts.Password
}

package healer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redhook/redhook/healer/decision"
	"github.com/redhook/redhook/hooks"
	"github.com/redis/rueidis"
	"github.com/rs/zerolog"
)

// errNoIP is the error of a pod that has no IP yet.
var errNoIP = errors.New("pod has no IP")

// observe reads every redis and sentinel pod of t, concurrently, each read bounded by the
// command timeout. A pod that does not answer is recorded as unreachable, not returned as an
// error: healing goes on with whatever answers. With w, it also lists the clients of the
// replicas that refused writes since w's last observe (a failure to is logged at debug level
// on log: the replication decisions do not depend on it).
func observe(ctx context.Context, t hooks.Topology, c *conns, w *writeWatch, log zerolog.Logger) decision.Snapshot {
	o := decision.Snapshot{Time: time.Now(), Redis: make([]decision.RedisNode, len(t.Redis)),
		Sentinels: make([]decision.SentinelNode, len(t.Sentinels))}
	keys := decision.ConfigKeys(t)
	var wg sync.WaitGroup
	for i, p := range t.Redis {
		wg.Go(func() { o.Redis[i] = observeRedis(ctx, t, c, p, keys) })
	}
	if t.SentinelsEnabled {
		for i, p := range t.Sentinels {
			wg.Go(func() { o.Sentinels[i] = observeSentinel(ctx, t, c, p) })
		}
	} else {
		o.Sentinels = nil
	}
	wg.Wait()
	if w != nil {
		for _, err := range w.listMisdirected(ctx, t, c, &o) {
			log.Debug().Err(err).Msg("listing the clients of a replica that refused writes")
		}
	}
	return o
}

// observeRedis reads ROLE, INFO server/replication/keyspace/errorstats and the managed CONFIG
// keys.
func observeRedis(ctx context.Context, t hooks.Topology, c *conns, p hooks.PodRef, keys []string) decision.RedisNode {
	n := decision.RedisNode{Pod: p}
	if p.IP == "" {
		n.Err = errNoIP.Error()
		return n
	}
	addr := redisAddr(t, p)
	client, err := c.get(addr, t.Password)
	if err != nil {
		n.Err, n.Refused = err.Error(), refused(err)
		return n
	}
	ctx, cancel := context.WithTimeout(ctx, c.commandTimeout)
	defer cancel()
	cmds := rueidis.Commands{
		client.B().Role().Build(),
		client.B().Info().Section("server", "replication", "keyspace", "errorstats").Build(),
	}
	if len(keys) > 0 {
		cmds = append(cmds, client.B().ConfigGet().Parameter(keys...).Build())
	}
	res := client.DoMulti(ctx, cmds...)
	err = readRedis(&n, res)
	if connectionLost(err) && ctx.Err() == nil {
		// Sentinel ends every normal client of a replica it promotes or re-points (CLIENT KILL
		// TYPE normal, to make clients look up the master again), the healer's too: a pass that
		// runs then would see the new master as unreachable, report no master, and empty the
		// master EndpointSlice for a moment. The client dials again: read once more.
		n = decision.RedisNode{Pod: p}
		res = client.DoMulti(ctx, cmds...)
		err = readRedis(&n, res)
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			c.drop(addr) // a stuck connection must not stall the next pass
		}
		n = decision.RedisNode{Pod: p, Err: fmt.Sprintf("read %s: %v", addr, err), Refused: refused(err)}
		return n
	}
	if len(keys) > 0 {
		v, err := res[2].ToAny()
		if err == nil {
			n.Config, err = decision.ParseConfigGet(v)
		}
		if err != nil {
			n.Config = nil
			n.ConfigErr = fmt.Sprintf("config get %s: %v", addr, err)
		}
	}
	return n
}

// connectionLost tells whether err is the end of a connection that was up: the server closed it
// (EOF) or reset it.
func connectionLost(err error) bool {
	return err != nil && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET))
}

// refused tells whether err is a refused connection: the host answered that nothing listens
// there (sentinel-less mode fails over such a master at once, healer/decision/sentinelless.go).
func refused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || strings.Contains(err.Error(), "connection refused")
}

func readRedis(n *decision.RedisNode, res []rueidis.RedisResult) error {
	v, err := res[0].ToAny()
	if err != nil {
		return fmt.Errorf("role: %w", err)
	}
	if n.Role, err = decision.ParseRole(v); err != nil {
		return err
	}
	text, err := res[1].ToString()
	if err != nil {
		return fmt.Errorf("info: %w", err)
	}
	n.Info, err = decision.ParseRedisInfo(text)
	return err
}

// observeSentinel reads INFO sentinel and, when the sentinel monitors the master name,
// SENTINEL MASTER, REPLICAS and SENTINELS.
func observeSentinel(ctx context.Context, t hooks.Topology, c *conns, p hooks.PodRef) decision.SentinelNode {
	n := decision.SentinelNode{Pod: p}
	if p.IP == "" {
		n.Err = errNoIP.Error()
		return n
	}
	addr := sentinelAddr(t, p)
	client, err := c.get(addr, t.SentinelPassword)
	if err != nil {
		n.Err = err.Error()
		return n
	}
	ctx, cancel := context.WithTimeout(ctx, c.commandTimeout)
	defer cancel()
	if err := readSentinel(ctx, client, t.MasterName, &n); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			c.drop(addr)
		}
		return decision.SentinelNode{Pod: p, Err: fmt.Sprintf("read %s: %v", addr, err)}
	}
	return n
}

func readSentinel(ctx context.Context, client rueidis.Client, name string, n *decision.SentinelNode) error {
	text, err := client.Do(ctx, client.B().Info().Section("sentinel").Build()).ToString()
	if err != nil {
		return fmt.Errorf("info sentinel: %w", err)
	}
	if n.Info, err = decision.ParseSentinelInfo(text); err != nil {
		return err
	}
	// SENTINEL DEBUG is read (and set, rule 12) even when the sentinel monitors nothing yet.
	// A failure leaves Debug unknown (nil): the sentinel still takes part, and decision.Plan never
	// writes a setting it could not read.
	if v, err := client.Do(ctx, client.B().Arbitrary("SENTINEL", "DEBUG").Build()).ToAny(); err == nil {
		if debug, err := decision.ParseSentinelDebug(v); err == nil {
			n.Debug = debug
		}
	}
	if _, ok := n.Info.Master(name); !ok {
		return nil
	}
	res := client.DoMulti(ctx,
		client.B().Arbitrary("SENTINEL", "MASTER").Args(name).Build(),
		client.B().SentinelReplicas().Master(name).Build(),
		client.B().SentinelSentinels().Master(name).Build())
	vals := make([]any, len(res))
	for i, r := range res {
		if vals[i], err = r.ToAny(); err != nil {
			return fmt.Errorf("sentinel %s: %w", [...]string{"master", "replicas", "sentinels"}[i], err)
		}
	}
	m, err := decision.ParseSentinelMaster(vals[0])
	if err != nil {
		return err
	}
	n.Master = &m
	if m.FailoverInProgress() {
		// Its own vote, fresher than what its peers recorded (they record it only while they run
		// a failover themselves). Epoch 0 casts no vote. A failure leaves it unknown.
		v, err := client.Do(ctx, client.B().Arbitrary("SENTINEL", "IS-MASTER-DOWN-BY-ADDR").
			Args(m.IP, strconv.Itoa(int(m.Port)), "0", "redhook-healer").Build()).ToAny()
		if err == nil {
			if vote, err := decision.ParseSentinelVote(v); err == nil {
				n.Vote = &vote
			}
		}
	}
	if n.Replicas, err = decision.ParseSentinelPeers(vals[1]); err != nil {
		return err
	}
	n.Sentinels, err = decision.ParseSentinelPeers(vals[2])
	return err
}

package healer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redhook/redhook/healer/decision"
	"github.com/redhook/redhook/hooks"
)

// The master watcher makes the detection of a dead or restarted master event-driven. A healthy
// RedisFailover is otherwise re-checked only every Interval (10 s), and in Kubernetes its pod
// turns unready only after the probes failed for 15 s: rule 11 would wait that long while
// Sentinel-aware clients write to a restarted, empty, read-only node.
//
// One goroutine per RedisFailover keeps its own connection to the master of the last report and
// sends ROLE every WatchInterval, each round trip bounded by WatchTimeout. On every new
// connection it reads the run id. When the master stops answering, answers with another role,
// or comes back with another run id (it restarted), the watcher asks for a heal pass at once.
// It never acts itself: the pass observes everything and decision.Plan decides (rule 11 only
// on what it sees, never on the watcher's word). It asks once per change and once per new
// connection, not once per probe, so a master that stays dead costs one pass, then the pool's
// own schedule.

// probe is what one watcher round trip saw.
type probe struct {
	// err is the connection or command error; nil when the master answered.
	err error
	// role is ROLE's first element; runID is read on every new connection only.
	role  string
	runID string
}

// watchVerdict tells whether a probe shows the healthy master of the last pass (the run id that
// pass saw and role master), and if not, why. It is pure.
func watchVerdict(expectRunID string, p probe) (healthy bool, why string) {
	switch {
	case p.err != nil:
		return false, fmt.Sprintf("master does not answer: %v", p.err)
	case p.role != hooks.RoleMaster:
		return false, fmt.Sprintf("master answers role %s", p.role)
	case expectRunID != "" && p.runID != "" && p.runID != expectRunID:
		return false, fmt.Sprintf("master restarted: run id %.8s, was %.8s", p.runID, expectRunID)
	}
	return true, ""
}

// watchState is the watcher of one RedisFailover: what it watches and how to stop it. Guarded
// by Pool.mu.
type watchState struct {
	addr   string
	runID  string
	cancel context.CancelFunc
}

// syncWatch points the watcher of e at the master of the last report: started for a new
// master, kept while the report names none (the watcher then sees the old master come back),
// stopped when its address left the topology. Caller holds p.mu.
func (p *Pool) syncWatch(e *entry, t hooks.Topology, r hooks.HealerReport, o decision.Snapshot) {
	if p.cfg.WatchInterval < 0 || p.ctx == nil || p.ctx.Err() != nil {
		return
	}
	if r.Master == nil || r.Master.IP == "" {
		if e.watch.cancel != nil && !topologyAddrs(t)[e.watch.addr] {
			p.stopWatch(e)
		}
		return
	}
	addr := hooks.Endpoint{Host: r.Master.IP, Port: t.RedisPort}.Address()
	var runID string
	for _, n := range o.Redis {
		if n.Pod.Name == r.Master.Pod && n.Reachable() {
			runID = n.Info.RunID
		}
	}
	if e.watch.cancel != nil && e.watch.addr == addr {
		if runID != "" {
			e.watch.runID = runID
		}
		return
	}
	p.stopWatch(e)
	ctx, cancel := context.WithCancel(p.ctx)
	e.watch = watchState{addr: addr, runID: runID, cancel: cancel}
	p.subs.Go(func() { p.watchMaster(ctx, e, addr) })
}

// stopWatch stops the watcher of e. Caller holds p.mu.
func (p *Pool) stopWatch(e *entry) {
	if e.watch.cancel != nil {
		e.watch.cancel()
	}
	e.watch = watchState{}
}

// watchMaster probes addr until ctx ends.
func (p *Pool) watchMaster(ctx context.Context, e *entry, addr string) {
	var c *respConn
	defer func() {
		if c != nil {
			c.close()
		}
	}()
	timer := time.NewTimer(p.cfg.WatchInterval)
	defer timer.Stop()
	healthy := true // the pass that started the watcher saw it healthy
	var runID string
	var away time.Time // since when the master does not answer; zero while it does
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		p.mu.Lock()
		password, expect := e.topo.Password, e.watch.runID
		leaving := podTerminating(e.topo, addr)
		p.mu.Unlock()
		var pr probe
		c, runID, pr = p.probeMaster(ctx, c, addr, password.Value(), runID)
		if ctx.Err() != nil {
			return
		}
		ok, why := watchVerdict(expect, pr)
		switch {
		case !ok && (healthy || pr.fresh()):
			// A change, or a new connection that shows one: the master came back restarted.
			p.watchTrigger(e, addr, why)
		case ok && !healthy && pr.fresh():
			p.watchTrigger(e, addr, "master answers again")
		}
		healthy = ok
		switch {
		case c != nil:
			away = time.Time{}
		case away.IsZero():
			away = time.Now()
		}
		timer.Reset(p.watchDelay(away, leaving, time.Now()))
	}
}

// watchAwayFast is how long the watcher keeps redialling a master that went away four times per
// WatchInterval. A master that restarts in place is back well within it; after it, Sentinel has
// failed over or the pod is gone, and the heal passes see what comes back.
const watchAwayFast = 10 * time.Second

// watchDelay is the wait before the next probe. While the master's pod terminates (leaving),
// the watcher probes eight times as often: the pod's preStop hands over, and the moment the
// master answers as a replica the pass must run, so that the master Service follows the
// promoted replica (a probe every 25 ms for the few seconds of a hand-over). While the master is
// away (since away), the watcher dials four times as often: a restarted master is seen within a
// quarter interval of listening (a refused dial costs nothing; a dial to a gone host costs
// WatchTimeout). After watchAwayFast it backs off, doubling up to MaxBackoff: a master that
// stays away does not cost a dial every 50 ms for as long as the report names no other.
func (p *Pool) watchDelay(away time.Time, leaving bool, now time.Time) time.Duration {
	if away.IsZero() {
		if leaving {
			return p.cfg.WatchInterval / 8
		}
		return p.cfg.WatchInterval
	}
	over := now.Sub(away) - watchAwayFast
	if over < 0 {
		return p.cfg.WatchInterval / 4
	}
	// One doubling per WatchInterval·2^k spent away past watchAwayFast: 200 ms, 400 ms, ... capped.
	steps := 1
	for d := p.cfg.WatchInterval; d < over && steps < 32; d *= 2 {
		steps++
	}
	return backoff(p.cfg.WatchInterval, max(p.cfg.MaxBackoff, p.cfg.WatchInterval), steps)
}

// fresh tells whether the probe opened a new connection (it read the run id).
func (p probe) fresh() bool { return p.runID != "" }

// probeMaster sends ROLE on c, or on a new connection (reading INFO server's run id first) when
// c is nil or broke. It returns the connection to use next time (nil when broken) and the run
// id of that connection.
func (p *Pool) probeMaster(ctx context.Context, c *respConn, addr, password, runID string) (*respConn, string, probe) {
	timeout := p.cfg.WatchTimeout
	var pr probe
	if c == nil {
		var err error
		if c, err = dialRESP(ctx, addr, password, timeout); err != nil {
			return nil, "", probe{err: err}
		}
		v, err := c.do(time.Now().Add(timeout), "INFO", "server")
		text, _ := v.(string)
		if err == nil && text == "" {
			err = errors.New("INFO server: empty reply")
		}
		if err != nil {
			c.close()
			return nil, "", probe{err: err}
		}
		runID = decision.ParseInfo(text)["run_id"]
		pr.runID = runID
	}
	v, err := c.do(time.Now().Add(timeout), "ROLE")
	if err == nil {
		var role decision.Role
		if role, err = decision.ParseRole(v); err == nil {
			pr.role = role.Role
		}
	}
	if err != nil {
		c.close()
		return nil, "", probe{err: err}
	}
	return c, runID, pr
}

// watchTrigger asks for a heal pass now.
func (p *Pool) watchTrigger(e *entry, addr, why string) {
	e.log.Info().Str("master", addr).Str("reason", why).Msg("master watcher: heal pass now")
	p.metrics.watchTriggers.Inc()
	p.mu.Lock()
	p.recheck(e, time.Now())
	p.mu.Unlock()
	p.signal()
}

// podTerminating tells whether the redis pod of t at addr is terminating.
func podTerminating(t hooks.Topology, addr string) bool {
	for _, pod := range t.Redis {
		if pod.IP != "" && redisAddr(t, pod) == addr {
			return pod.Terminating
		}
	}
	return false
}

package healer

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redhook/redhook/healer/decision"
	"github.com/redhook/redhook/hooks"
	"github.com/rs/zerolog"
)

// Pool heals the tracked RedisFailovers: one pass per RedisFailover at a time, at most
// Config.Workers at once, again after Interval (FastInterval while unsettled, backoff after
// errors) and at once on a topology change or a Sentinel event.
type Pool struct {
	cfg     Config
	log     zerolog.Logger
	metrics *metrics

	mu      sync.Mutex
	entries map[string]*entry
	ctx     context.Context // Run's, for the subscriptions; nil before Run
	subs    sync.WaitGroup
	wake    chan struct{}
}

// entry is the pool's state for one RedisFailover. Guarded by Pool.mu except conns (own lock)
// and what only the pass running for it touches.
type entry struct {
	key     string
	topo    hooks.Topology
	log     zerolog.Logger
	tracked time.Time // last Track
	due     time.Time // next pass
	busy    bool      // a pass is queued or running
	again   bool      // re-check requested while busy
	fails   int       // passes with errors in a row
	idle    int       // passes in a row without a master, an action or a pod that answered
	// moved: the last pass reported another master than the last one reported before it (see
	// reschedule); lastMaster is the pod of the last master reported.
	moved      bool
	lastMaster string
	// cleanupPasses counts the passes in a row that saw a sentinel with stale entries rule 8
	// has yet to reset (decision.CleanupDue; see cleanupSoon).
	cleanupPasses int
	report        hooks.HealerReport
	history       []hooks.ActionRecord
	conns         *conns
	subs          map[string]*subscription // sentinel address → its subscription
	// watch is the master watcher.
	watch watchState
	// promotionUntil: a sentinel announced a promotion (+failover-state-wait-promotion) and,
	// until then, passes follow each other every promotionPoll while no pass has reported the
	// promoted replica (see reschedule).
	promotionUntil time.Time
	// lastSwitch is the new master of the last failover counted (see failoverTarget).
	lastSwitch string
	// held: the last Track was a held topology (see Track).
	held bool
	// refused are the CONFIG SETs that pods refused (decision.HoldRefused). Only the entry's
	// pass reads and writes them, one pass at a time: no lock.
	refused []decision.Refusal
	// writes finds the clients that write to replicas (clients.go); only the entry's pass uses it.
	writes writeWatch
	// switchFails counts the failed planned switchovers in a row (decision.HoldSwitchover); only
	// the entry's pass uses it.
	switchFails decision.SwitchoverFailures
}

// heldTopology is last with the pods of held.
func heldTopology(last, held hooks.Topology) hooks.Topology {
	last.Redis, last.Sentinels = held.Redis, held.Sentinels
	return last
}

// NewPool makes a pool. It does nothing until Run.
func NewPool(cfg Config, logger zerolog.Logger) (*Pool, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("healer config: %w", err)
	}
	reg := cfg.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("healer metrics: %w", err)
	}
	return &Pool{cfg: cfg, log: logger.With().Str("component", "healer").Logger(), metrics: m,
		entries: map[string]*entry{}, wake: make(chan struct{}, 1)}, nil
}

// Track hands the pool the newest topology of a RedisFailover. It never blocks on Redis: it
// records the topology and, when it changed, asks for a pass at once.
//
// A held topology (t.Held: invalid spec or missing Secret) brings only the pods: the pool goes
// on with the settings of the last topology that was not held, as the held children still run
// with them, and does not forget the RedisFailover while its syncs go on. The pods are always
// the newest (a stale pod IP may belong to another RedisFailover by now). Without an earlier
// topology there is nothing to heal with, and a held one is ignored.
func (p *Pool) Track(t hooks.Topology) {
	now := time.Now()
	key := t.Key()
	p.mu.Lock()
	e, ok := p.entries[key]
	if !ok && t.Held {
		p.mu.Unlock()
		return
	}
	if ok {
		switch {
		case t.Held && !e.held:
			e.log.Warn().Msg("spec held (invalid or its Secret missing): healing on with the last valid settings")
		case !t.Held && e.held:
			e.log.Info().Msg("spec valid again")
		}
		e.held = t.Held
		if t.Held {
			t = heldTopology(e.topo, t)
		}
	}
	switch {
	case !ok:
		e = &entry{key: key, topo: t, due: now, conns: newConns(p.cfg.DialTimeout, p.cfg.CommandTimeout, p.cfg.MinBackoff),
			subs: map[string]*subscription{},
			log:  p.log.With().Str("namespace", t.Namespace).Str("name", t.Name).Logger()}
		p.entries[key] = e
		p.metrics.tracked.Set(float64(len(p.entries)))
	case !reflect.DeepEqual(e.topo, t):
		e.topo = t
		p.wakeUp(e, now)
	default:
		// Unchanged: nothing to schedule. Most syncs are this one, so dispatch is not woken.
		e.tracked = now
		p.mu.Unlock()
		return
	}
	e.tracked = now
	p.mu.Unlock()
	p.signal()
}

// wakeUp asks for a pass now after a change (a new topology, a Sentinel event) and starts the
// backoffs over: the first passes after a change run at their usual pace. Caller holds p.mu.
func (p *Pool) wakeUp(e *entry, now time.Time) {
	e.fails, e.idle = 0, 0
	p.recheck(e, now)
}

// Report returns the latest report of a RedisFailover; the zero HealerReport (unknown) before
// the first pass or for a key that is not tracked.
func (p *Pool) Report(key string) hooks.HealerReport {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e, ok := p.entries[key]; ok {
		return e.report
	}
	return hooks.HealerReport{}
}

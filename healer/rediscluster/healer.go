package rediscluster

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Config sets the healer's timings.
type Config struct {
	// Interval between passes of a settled cluster; FastInterval while it is not (actions
	// applied, cluster_state not ok, slots migrating).
	Interval, FastInterval time.Duration
	// MinBackoff doubles after each pass with errors, up to MaxBackoff.
	MinBackoff, MaxBackoff      time.Duration
	DialTimeout, CommandTimeout time.Duration
	// MoveBudget bounds the slot moves of one pass; the next pass, due at once, goes on.
	MoveBudget time.Duration
	// MigrateBatch keys per GETKEYSINSLOT and at most per MIGRATE; MigrateBytes bounds one
	// MIGRATE by the keys' MEMORY USAGE (1 MB when 0). MigrateTimeout caps MIGRATE's own
	// timeout, which is a quarter of the cluster's Topology.NodeTimeout (a source blocked in
	// MIGRATE must not be flagged failing); 0: no cap beyond that.
	MigrateBatch   int
	MigrateBytes   int64
	MigrateTimeout time.Duration
	// Workers bounds the passes running at once (one per cluster at most).
	Workers int
	// History is the number of actions a report keeps.
	History int
}

// WithDefaults fills the zero fields.
func (c Config) WithDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.Interval, 10*time.Second)
	def(&c.FastInterval, time.Second)
	def(&c.MinBackoff, time.Second)
	def(&c.MaxBackoff, 30*time.Second)
	def(&c.DialTimeout, time.Second)
	def(&c.CommandTimeout, 2*time.Second)
	def(&c.MoveBudget, 20*time.Second)
	if c.MigrateBatch == 0 {
		c.MigrateBatch = 100
	}
	if c.Workers == 0 {
		c.Workers = 4
	}
	if c.History == 0 {
		c.History = 20
	}
	return c
}

// Healer converges the tracked clusters: one pass per cluster at a time (observe → Plan →
// apply → observe → report), at most Workers at once, again after Interval, FastInterval while
// the cluster is unsettled, with exponential backoff after errors, and at once on a topology
// change. Track, Forget and Report only touch memory.
type Healer struct {
	cfg Config
	log zerolog.Logger

	mu      sync.Mutex
	entries map[string]*entry
	wake    chan struct{}
}

type entry struct {
	key   string
	topo  Topology
	due   time.Time
	busy  bool
	again bool
	fails int
	// gone: forgotten while a pass ran; its connections are closed when the pass ends.
	gone    bool
	report  Report
	history []ActionRecord
	conns   *conns
	log     zerolog.Logger
	// moved counts what the slot moves moved since the cluster was tracked.
	moved moveStats
	// failovers: pod → when CLUSTER FAILOVER was last sent to it (only the entry's pass uses it).
	failovers map[string]time.Time
}

// failoverHold is how long a CLUSTER FAILOVER is not sent again to the same replica: a second
// one restarts the manual failover under way (Redis resets it), so repeating it every pass
// could keep it from ever ending.
const failoverHold = 15 * time.Second

// holdFailovers drops the Failover actions sent to the same pod within failoverHold.
func holdFailovers(acts []Action, last map[string]time.Time, now time.Time) []Action {
	out := acts[:0:0]
	for _, a := range acts {
		if f, ok := a.(Failover); ok && now.Sub(last[f.Pod]) < failoverHold {
			continue
		}
		out = append(out, a)
	}
	return out
}

// New makes a healer; it does nothing until Run.
func New(cfg Config, log zerolog.Logger) *Healer {
	return &Healer{cfg: cfg.WithDefaults(), log: log.With().Str("component", "rediscluster-healer").Logger(),
		entries: map[string]*entry{}, wake: make(chan struct{}, 1)}
}

// Track hands the healer the newest topology of a cluster; a change asks for a pass at once.
func (h *Healer) Track(t Topology) {
	h.mu.Lock()
	e, ok := h.entries[t.Key()]
	switch {
	case ok && e.gone:
		// Forgotten while its pass runs: the same entry is tracked again (never a second one,
		// which would run a second pass at once), and a pass follows the one under way.
		e.gone, e.topo, e.due, e.again = false, t, time.Now(), true
	case !ok:
		e = &entry{key: t.Key(), topo: t, due: time.Now(), conns: newConns(h.cfg.DialTimeout, h.cfg.CommandTimeout),
			log: h.log.With().Str("namespace", t.Namespace).Str("name", t.Name).Logger()}
		h.entries[e.key] = e
	case !reflect.DeepEqual(e.topo, t):
		e.topo, e.due = t, time.Now()
		if e.busy {
			e.again = true
		}
	}
	h.mu.Unlock()
	h.signal()
}

// Forget stops healing a cluster and closes its connections. An entry whose pass is under way
// stays, marked gone, until the pass ends (Track before then takes it back).
func (h *Healer) Forget(namespace, name string) {
	h.mu.Lock()
	key := Topology{Namespace: namespace, Name: name}.Key()
	e, ok := h.entries[key]
	if !ok {
		h.mu.Unlock()
		return
	}
	if e.busy {
		e.gone = true
		h.mu.Unlock()
		return
	}
	delete(h.entries, key)
	h.mu.Unlock()
	e.conns.closeAll()
}

// Report is the latest report of a cluster; the zero Report before the first pass or for a
// cluster not tracked.
func (h *Healer) Report(namespace, name string) Report {
	h.mu.Lock()
	defer h.mu.Unlock()
	if e, ok := h.entries[Topology{Namespace: namespace, Name: name}.Key()]; ok && !e.gone {
		return e.report
	}
	return Report{}
}

func (h *Healer) signal() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// Run runs passes until ctx ends, then waits for the passes under way and closes every
// connection.
func (h *Healer) Run(ctx context.Context) error {
	sem := make(chan struct{}, h.cfg.Workers)
	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, e := range h.entries {
			e.conns.closeAll()
		}
	}()
	for {
		now := time.Now()
		next := now.Add(h.cfg.Interval)
		var due []*entry
		h.mu.Lock()
		for _, e := range h.entries {
			switch {
			case e.busy, e.gone:
			case !e.due.After(now):
				e.busy = true
				due = append(due, e)
			case e.due.Before(next):
				next = e.due
			}
		}
		h.mu.Unlock()
		for _, e := range due {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				h.mu.Lock()
				e.busy = false
				h.mu.Unlock()
				continue
			}
			wg.Go(func() {
				defer func() { <-sem }()
				h.pass(ctx, e)
			})
		}
		timer := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-h.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// pass is one heal pass of e.
func (h *Healer) pass(ctx context.Context, e *entry) {
	h.mu.Lock()
	t := e.topo
	h.mu.Unlock()
	keep := map[string]bool{}
	for _, n := range t.Nodes {
		if n.IP != "" {
			keep[n.Addr()] = true
		}
	}
	e.conns.keepOnly(keep)

	s := observe(ctx, t, e.conns, h.cfg.CommandTimeout)
	acts := holdFailovers(Plan(t, s), e.failovers, time.Now())
	a := &applier{t: t, c: e.conns, timeout: h.cfg.CommandTimeout,
		mig:      migrateConfig{Batch: h.cfg.MigrateBatch, MaxBytes: h.cfg.MigrateBytes, Timeout: t.MigrateTimeout(h.cfg.MigrateTimeout)},
		deadline: time.Now().Add(h.cfg.MoveBudget)}
	for _, n := range s.Nodes {
		if n.Reachable() && n.isMaster() {
			a.masters = append(a.masters, n.Node.Addr())
		}
	}
	outs := a.apply(ctx, acts)
	for _, o := range outs {
		if f, ok := o.Action.(Failover); ok {
			if e.failovers == nil {
				e.failovers = map[string]time.Time{}
			}
			e.failovers[f.Pod] = time.Now()
		}
	}
	var records []ActionRecord
	var errs []string
	outOfTime := false
	for _, o := range outs {
		e.moved.Slots += o.Moved.Slots
		e.moved.Keys += o.Moved.Keys
		e.moved.Took += o.Moved.Took
		rec := ActionRecord{Time: time.Now().UTC().Format(time.RFC3339), Action: o.Action.String(), Reason: o.Action.Reason()}
		ev := e.log.Info()
		if o.Err != nil {
			msg := redact(o.Err.Error(), t.Password)
			if errors.Is(o.Err, errOutOfTime) || errors.Is(o.Err, errSkipped) {
				outOfTime = true
				ev = e.log.Info().Str("note", msg)
			} else {
				rec.Error = msg
				errs = append(errs, msg)
				ev = e.log.Warn().Str("error", msg)
			}
		}
		if m, ok := o.Action.(MoveSlots); ok {
			ev = ev.Int64("slots_moved", o.Moved.Slots).Int64("keys_moved", o.Moved.Keys).Dur("took", o.Moved.Took).Int("slots", len(m.Slots))
		}
		ev.Str("action", o.Action.String()).Str("reason", o.Action.Reason()).Msg("heal action")
		records = append(records, rec)
	}
	applyErrs := len(errs)
	if len(acts) > 0 && ctx.Err() == nil {
		s = observe(ctx, t, e.conns, h.cfg.CommandTimeout)
	}
	for _, n := range s.Nodes {
		if !n.Reachable() {
			errs = append(errs, redact(n.Node.Pod+": "+n.Err, t.Password))
		}
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	hist := make([]ActionRecord, 0, len(records)+len(e.history))
	for i := len(records) - 1; i >= 0; i-- {
		hist = append(hist, records[i])
	}
	hist = append(hist, e.history...)
	if len(hist) > h.cfg.History {
		hist = hist[:h.cfg.History]
	}
	e.history = hist
	r := BuildReport(t, s, append([]ActionRecord(nil), hist...), errs)
	r.SlotsMoved, r.KeysMoved, r.MoveTime = e.moved.Slots, e.moved.Keys, e.moved.Took
	now := time.Now()
	r.Time = now
	e.report = r
	switch {
	case applyErrs > 0: // a pod that does not answer is no reason to back off: Redis fails it over
		e.fails++
		d := h.cfg.MinBackoff << min(e.fails-1, 16)
		e.due = now.Add(min(d, h.cfg.MaxBackoff))
	case outOfTime || e.again:
		e.fails = 0
		e.due = now
	case len(acts) > 0 || len(errs) > 0 || r.ClusterState != "ok" || r.SlotsMigrating > 0:
		e.fails = 0
		e.due = now.Add(h.cfg.FastInterval)
	default:
		e.fails = 0
		e.due = now.Add(h.cfg.Interval)
	}
	h.endPass(e)
	h.signal()
}

// endPass releases e at the end of its pass (h.mu held): an entry forgotten meanwhile, and not
// tracked again, goes, with its connections.
func (h *Healer) endPass(e *entry) {
	e.busy, e.again = false, false
	if e.gone {
		if h.entries[e.key] == e {
			delete(h.entries, e.key)
		}
		go e.conns.closeAll()
	}
}

package healer

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redhook/redhook/healer/decision"
	"github.com/redhook/redhook/hooks"
	"github.com/rs/zerolog"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Config tunes the pool. Zero fields take the defaults of DefaultConfig.
type Config struct {
	// Workers bounds the heal passes running at once.
	Workers int
	// Interval is the re-check period of a healthy RedisFailover.
	Interval time.Duration
	// FastInterval is the re-check period while a RedisFailover is unsettled: actions were just
	// applied, a failover is in progress, or no master is known.
	FastInterval time.Duration
	// ForgetAfter is how long a RedisFailover is kept without a Track; then its connections are
	// closed and its report dropped.
	ForgetAfter time.Duration
	// DialTimeout bounds a connection attempt; CommandTimeout bounds every command.
	DialTimeout    time.Duration
	CommandTimeout time.Duration
	// MinBackoff and MaxBackoff bound the exponential backoff after a pass with errors.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// WatchInterval is how often the master watcher sends ROLE to the master of each
	// RedisFailover (see watch.go); negative disables the watcher. WatchTimeout bounds each of
	// its dials and round trips.
	WatchInterval time.Duration
	WatchTimeout  time.Duration
	// History is how many recent actions the report keeps.
	History int
	// Registerer receives the healer's metrics; nil keeps them unregistered.
	Registerer prometheus.Registerer
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Workers: 8, Interval: 10 * time.Second, FastInterval: time.Second,
		ForgetAfter: 10 * time.Minute, DialTimeout: time.Second, CommandTimeout: 2 * time.Second,
		MinBackoff: 500 * time.Millisecond, MaxBackoff: 30 * time.Second, History: 10,
		WatchInterval: 200 * time.Millisecond, WatchTimeout: 200 * time.Millisecond}
}

// WithDefaults returns a copy of c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	d := DefaultConfig()
	set := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	if c.Workers == 0 {
		c.Workers = d.Workers
	}
	if c.History == 0 {
		c.History = d.History
	}
	set(&c.Interval, d.Interval)
	set(&c.FastInterval, d.FastInterval)
	set(&c.ForgetAfter, d.ForgetAfter)
	set(&c.DialTimeout, d.DialTimeout)
	set(&c.CommandTimeout, d.CommandTimeout)
	set(&c.MinBackoff, d.MinBackoff)
	set(&c.MaxBackoff, d.MaxBackoff)
	set(&c.WatchInterval, d.WatchInterval)
	set(&c.WatchTimeout, d.WatchTimeout)
	return c
}

// Validate reports every invalid setting.
func (c Config) Validate() error {
	var errs []error
	if c.Workers < 1 {
		errs = append(errs, fmt.Errorf("workers %d: must be at least 1", c.Workers))
	}
	if c.History < 1 {
		errs = append(errs, fmt.Errorf("history %d: must be at least 1", c.History))
	}
	for name, d := range map[string]time.Duration{"interval": c.Interval, "fast interval": c.FastInterval,
		"forget after": c.ForgetAfter, "dial timeout": c.DialTimeout, "command timeout": c.CommandTimeout,
		"min backoff": c.MinBackoff, "max backoff": c.MaxBackoff, "watch timeout": c.WatchTimeout} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s %v: must be positive", name, d))
		}
	}
	if c.MaxBackoff < c.MinBackoff {
		errs = append(errs, fmt.Errorf("max backoff %v is below min backoff %v", c.MaxBackoff, c.MinBackoff))
	}
	return errors.Join(errs...)
}

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
	report  hooks.HealerReport
	history []hooks.ActionRecord
	conns   *conns
	subs    map[string]context.CancelFunc // sentinel address → its subscription
	// watch is the master watcher.
	watch watchState
	// lastSwitch is the new master of the last failover counted (see failoverTarget).
	lastSwitch string
	// held: the last Track was a held topology (see Track).
	held bool
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
		e = &entry{key: key, topo: t, due: now, conns: newConns(p.cfg.DialTimeout, p.cfg.CommandTimeout),
			subs: map[string]context.CancelFunc{},
			log:  p.log.With().Str("namespace", t.Namespace).Str("name", t.Name).Logger()}
		p.entries[key] = e
		p.metrics.tracked.Set(float64(len(p.entries)))
	case !reflect.DeepEqual(e.topo, t):
		e.topo = t
		p.recheck(e, now)
	}
	e.tracked = now
	p.mu.Unlock()
	p.signal()
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

// recheck asks for a pass now, or right after the running one. Caller holds p.mu.
func (p *Pool) recheck(e *entry, now time.Time) {
	if e.busy {
		e.again = true
	} else {
		e.due = now
	}
}

func (p *Pool) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Run heals until ctx is cancelled, then waits for every pass and subscription to stop and
// closes every connection.
func (p *Pool) Run(ctx context.Context) error {
	p.mu.Lock()
	if p.ctx != nil {
		p.mu.Unlock()
		return errors.New("healer pool: Run called twice")
	}
	p.ctx = ctx
	p.mu.Unlock()

	jobs := make(chan *entry)
	var workers sync.WaitGroup
	for range p.cfg.Workers {
		workers.Go(func() {
			for e := range jobs {
				p.pass(ctx, e)
			}
		})
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	p.dispatch(ctx, jobs, timer)
	close(jobs)
	workers.Wait()

	p.mu.Lock()
	for _, e := range p.entries {
		p.stopSubscriptions(e, nil)
		p.stopWatch(e)
	}
	p.mu.Unlock()
	p.subs.Wait()
	p.mu.Lock()
	for _, e := range p.entries {
		e.conns.closeAll()
	}
	p.mu.Unlock()
	return nil
}

// dispatch hands due entries to the workers until ctx is cancelled.
func (p *Pool) dispatch(ctx context.Context, jobs chan<- *entry, timer *time.Timer) {
	for {
		due, next := p.schedule(time.Now())
		for i, e := range due {
			select {
			case jobs <- e:
			case <-ctx.Done():
				p.mu.Lock()
				for _, e := range due[i:] {
					e.busy = false
				}
				p.mu.Unlock()
				return
			}
		}
		timer.Reset(time.Until(next))
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		case <-timer.C:
		}
	}
}

// schedule marks the due entries busy and returns them, oldest due first, with the time of the
// next due entry. It also forgets the entries not tracked for ForgetAfter.
func (p *Pool) schedule(now time.Time) ([]*entry, time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	next := now.Add(p.cfg.Interval)
	var due []*entry
	for key, e := range p.entries {
		if e.busy {
			continue
		}
		if now.Sub(e.tracked) > p.cfg.ForgetAfter {
			p.forget(key, e)
			continue
		}
		if !e.due.After(now) {
			e.busy = true
			due = append(due, e)
		} else if e.due.Before(next) {
			next = e.due
		}
	}
	if len(due) > 0 {
		next = now
	}
	sort.Slice(due, func(i, j int) bool { return due[i].due.Before(due[j].due) })
	return due, next
}

// forget drops an entry. Caller holds p.mu and the entry is not busy.
func (p *Pool) forget(key string, e *entry) {
	p.stopSubscriptions(e, nil)
	p.stopWatch(e)
	e.conns.closeAll()
	delete(p.entries, key)
	p.metrics.forget(e.topo.Namespace, e.topo.Name)
	p.metrics.tracked.Set(float64(len(p.entries)))
	e.log.Info().Msg("forgotten: not synced for a while")
}

// pass is one heal pass: observe → decision.Plan → apply, then the report.
func (p *Pool) pass(ctx context.Context, e *entry) {
	start := time.Now()
	p.mu.Lock()
	t := e.topo
	p.mu.Unlock()

	e.conns.keepOnly(topologyAddrs(t))
	p.syncSubscriptions(e, t)

	o := observe(ctx, t, e.conns)
	acts := decision.Plan(t, o)
	outs := apply(ctx, t, e.conns, acts)
	var errs []string
	records := make([]hooks.ActionRecord, 0, len(outs))
	for _, out := range outs {
		p.metrics.actions.WithLabelValues(out.Action.Kind()).Inc()
		ev := e.log.Info()
		if out.Err != nil {
			ev = e.log.Warn().Err(out.Err)
			errs = append(errs, out.Err.Error())
			p.metrics.errors.WithLabelValues(errApply).Inc()
		}
		ev.Str("action", out.Action.String()).Str("reason", out.Action.Reason()).Msg("heal action")
		records = append(records, hooks.ActionRecord{Time: metav1.NewTime(time.Now().UTC().Truncate(time.Second)),
			Action: out.Action.String(), Reason: out.Action.Reason()})
	}
	if len(acts) > 0 && ctx.Err() == nil {
		o = observe(ctx, t, e.conns) // report the state the writes produced
	}
	p.countObserveErrors(o)

	p.mu.Lock()
	defer p.mu.Unlock()
	e.history = newestFirst(records, e.history, p.cfg.History)
	r := decision.Report(t, o, append([]hooks.ActionRecord(nil), e.history...), errs)
	e.report = r
	e.busy = false
	if _, tracked := p.entries[e.key]; tracked {
		p.syncWatch(e, t, r, o)
	}
	now := time.Now()
	result := "ok"
	if len(r.Errors) > 0 {
		result = "error"
		e.fails++
	} else {
		e.fails = 0
	}
	switch {
	case e.again:
		e.again = false
		e.due = now
	case e.fails > 0:
		e.due = now.Add(backoff(p.cfg.MinBackoff, p.cfg.MaxBackoff, e.fails))
	case len(acts) > 0 || r.FailoverInProgress || r.Master == nil:
		e.due = now.Add(p.cfg.FastInterval)
	default:
		e.due = now.Add(p.cfg.Interval)
	}
	p.metrics.passes.WithLabelValues(result).Inc()
	p.metrics.duration.Observe(time.Since(start).Seconds())
	if _, tracked := p.entries[e.key]; tracked {
		p.metrics.report(t, r)
	}
	p.signal()
}

func (p *Pool) countObserveErrors(o decision.Snapshot) {
	for _, n := range o.Redis {
		if !n.Reachable() || n.ConfigErr != "" {
			p.metrics.errors.WithLabelValues(errObserve).Inc()
		}
	}
	for _, n := range o.Sentinels {
		if !n.Reachable() {
			p.metrics.errors.WithLabelValues(errObserve).Inc()
		}
	}
}

// newestFirst prepends records (in the order they ran) to history, newest first, keeping max.
func newestFirst(records, history []hooks.ActionRecord, max int) []hooks.ActionRecord {
	out := make([]hooks.ActionRecord, 0, len(records)+len(history))
	for i := len(records) - 1; i >= 0; i-- {
		out = append(out, records[i])
	}
	out = append(out, history...)
	if len(out) > max {
		out = out[:max]
	}
	return out
}

// backoff is min·2^(fails-1), capped at max.
func backoff(min, max time.Duration, fails int) time.Duration {
	d := min
	for i := 1; i < fails && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d
}

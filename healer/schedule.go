package healer

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/redhook/redhook/healer/decision"
	"github.com/redhook/redhook/hooks"
)

// Scheduling: when each RedisFailover's next pass is due, and the workers that run them. One
// pass per RedisFailover at a time (entry.busy); a re-check asked for while it runs comes right
// after it (entry.again).

// recheck asks for a pass now, or right after the running one. Caller holds p.mu.
func (p *Pool) recheck(e *entry, now time.Time) {
	if e.busy {
		e.again = true
	} else {
		e.due = now
	}
}

// signal wakes dispatch to look at the due times again; a wake-up already pending is enough.
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

// reschedule sets when the next pass of e is due after a pass that sent acts and reported r,
// and returns the result of that pass for the metrics: at once when a re-check was asked for
// meanwhile, after backoff on errors, after a backoff from FastInterval while no master is
// known and no pod answers (see anyReachable; both backoffs then go up to SilentMaxInterval),
// after a quarter of FastInterval after a switchover or after closing clients that wrote to a
// replica (rule 15: the clients reconnect through the master Service, which may still lead to
// the old master for a moment) or while a sentinel-less failover waits for its detection time
// (the replicas' link-down clocks count whole seconds: a pass every FastInterval would add up to
// that much to the failover), after FastInterval while unsettled (acted, failing over, without a
// master, or with sentinels rule 8 has yet to reset: cleanupSoon), else after Interval. held is
// how many of r's errors are writes held back (a CONFIG SET Redis refused, a switchover that failed
// too often): they make the pass an "error" but add no backoff, since retrying sooner or later
// changes nothing about them, while backing off would slow the periodic passes that heal
// everything else. Caller holds p.mu.
func (p *Pool) reschedule(e *entry, r hooks.HealerReport, acts []decision.Action, held int, now time.Time) (result string) {
	result = "ok"
	if len(r.Errors) > 0 {
		result = "error"
	}
	if len(r.Errors) > held {
		e.fails++
	} else {
		e.fails = 0
	}
	maxWait := p.cfg.MaxBackoff
	if len(acts) == 0 && r.Master == nil && !r.FailoverInProgress && !anyReachable(r) {
		e.idle++
		maxWait = p.cfg.SilentMaxInterval
	} else {
		e.idle = 0
	}
	switch {
	case e.again:
		e.again = false
		e.due = now
	case e.fails > 0:
		e.due = now.Add(backoff(p.cfg.MinBackoff, maxWait, e.fails))
	case !e.moved && r.FailoverInProgress && now.Before(e.promotionUntil):
		// A promotion was announced and this pass did not see it yet.
		e.due = now.Add(promotionPoll)
	case followUpSoon(acts) || e.moved:
		// A pass that reported another master than the last one reported (maybe after passes
		// with none) is followed soon too: clients of the master Service keep their connections
		// to the old one, a replica now, and the next pass closes those that write (rule 15) once
		// they got READONLY, after the master EndpointSlice moved.
		e.due = now.Add(p.cfg.FastInterval / 4)
	case e.idle > 0:
		e.due = now.Add(backoff(p.cfg.FastInterval, maxWait, e.idle))
	case len(acts) > 0 || r.FailoverInProgress || r.Master == nil || e.cleanupSoon():
		e.due = now.Add(p.cfg.FastInterval)
	default:
		e.due = now.Add(p.cfg.Interval)
	}
	return result
}

// anyReachable tells whether a pod of the report answered. A RedisFailover without a master
// whose pods all stay silent (or that has none yet) has nothing a pass every FastInterval could
// heal: it backs off (entry.idle) until its topology changes or a pod answers again.
func anyReachable(r hooks.HealerReport) bool {
	for _, n := range r.Redis {
		if n.Reachable {
			return true
		}
	}
	for _, n := range r.Sentinels {
		if n.Reachable {
			return true
		}
	}
	return false
}

// maxCleanupPasses bounds the passes in a row that come back after FastInterval for rule 8's
// resets (decision.CleanupDue): a reset waits until every sentinel has rediscovered its replicas
// and peers, a few seconds each, and a sentinel that never does (cut off from the others) must
// not keep the healer at ten passes where one would do.
const maxCleanupPasses = 30

// noteCleanup counts the passes in a row whose snapshot had stale entries (due).
func (e *entry) noteCleanup(due bool) {
	if due {
		e.cleanupPasses++
	} else {
		e.cleanupPasses = 0
	}
}

// cleanupSoon tells whether the next pass should come soon for rule 8's resets: the last pass,
// and at most maxCleanupPasses in a row, saw stale entries.
func (e *entry) cleanupSoon() bool {
	return e.cleanupPasses > 0 && e.cleanupPasses <= maxCleanupPasses
}

// followUpSoon tells whether acts moved the master (a switchover) or closed clients that had not
// followed it (the clients that reconnect may still reach the old master for a moment), or wait
// for the detection time of a lost master (sentinel-less mode: the failover is due within
// seconds).
func followUpSoon(acts []decision.Action) bool {
	for _, a := range acts {
		switch a := a.(type) {
		case decision.Switchover, decision.CloseClients:
			return true
		case decision.Wait:
			if a.Detecting {
				return true
			}
		}
	}
	return false
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

package healer

import (
	"context"
	"errors"
	"time"

	"github.com/redhook/redhook/healer/decision"
	"github.com/redhook/redhook/hooks"
	"github.com/redis/rueidis"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// pass is one heal pass: observe → decision.Plan → apply, then the report and the next due
// time.
func (p *Pool) pass(ctx context.Context, e *entry) {
	start := time.Now()
	p.mu.Lock()
	t := e.topo
	p.mu.Unlock()

	e.conns.keepOnly(topologyAddrs(t))

	o := observe(ctx, t, e.conns, &e.writes, e.log)
	p.syncSubscriptions(e, t, o)
	acts, holding, held := decision.HoldRefused(decision.Plan(t, o), o, e.refused)
	acts, heldSwitch := decision.HoldSwitchover(acts, o, e.switchFails)
	held = append(held, heldSwitch...)
	outs := apply(ctx, t, e.conns, acts)
	for _, out := range outs {
		if sw, ok := out.Action.(decision.Switchover); ok && !errors.Is(out.Err, errPausedAlready) {
			// A lost claim is no failure: the preStop hook hands over.
			e.switchFails = e.switchFails.Record(sw, o, out.Err)
		}
	}
	e.refused = append(holding, refusals(outs, o)...)
	records, errs := p.record(e, outs)
	errs = append(errs, held...)
	if len(acts) > 0 && ctx.Err() == nil {
		o = observe(ctx, t, e.conns, nil, e.log) // report the state the writes produced
	}
	p.countObserveErrors(o)

	p.mu.Lock()
	defer p.mu.Unlock()
	e.history = newestFirst(records, e.history, p.cfg.History)
	r := decision.Report(t, o, append([]hooks.ActionRecord(nil), e.history...), errs)
	r.SwitchoverHeld = len(heldSwitch) > 0
	logMasterChange(e, r)
	e.moved = e.noteMaster(r.Master)
	e.noteCleanup(decision.CleanupDue(t, o))
	e.report = r
	e.busy = false
	_, tracked := p.entries[e.key]
	if tracked {
		p.syncWatch(e, t, r, o)
	}
	expected := len(held)
	if decision.Detecting(acts) {
		expected = len(r.Errors) // the lost master's errors: no backoff, the failover is due within seconds
	}
	result := p.reschedule(e, r, acts, expected, time.Now())
	p.metrics.passes.WithLabelValues(result).Inc()
	p.metrics.duration.Observe(time.Since(start).Seconds())
	if tracked {
		p.metrics.report(t, r)
	}
	p.signal()
}

// record logs and counts the applied actions and returns them as the report keeps them, with
// the errors of those that failed.
func (p *Pool) record(e *entry, outs []outcome) (records []hooks.ActionRecord, errs []string) {
	records = make([]hooks.ActionRecord, 0, len(outs))
	for _, out := range outs {
		p.metrics.actions.WithLabelValues(out.Action.Kind()).Inc()
		ev := e.log.Info()
		if out.Err != nil {
			ev = e.log.Warn().Err(out.Err)
			errs = append(errs, out.Err.Error())
			p.metrics.errors.WithLabelValues(errApply).Inc()
		}
		ev.Str("action", out.Action.String()).Str("reason", out.Action.Reason()).Msg("heal action")
		rec := hooks.ActionRecord{Time: metav1.NewTime(time.Now().UTC().Truncate(time.Second)),
			Action: out.Action.String(), Reason: out.Action.Reason()}
		records = append(records, rec)
		if p.cfg.OnAction != nil {
			p.cfg.OnAction(e.key, rec, out.Err)
		}
	}
	return records, errs
}

// refusals are the CONFIG SETs of outs that Redis answered with an error reply. A timeout or a
// lost connection is no refusal: that write is tried again on the next pass.
func refusals(outs []outcome, o decision.Snapshot) []decision.Refusal {
	var out []decision.Refusal
	for _, r := range outs {
		var redisErr *rueidis.RedisError
		if !errors.As(r.Err, &redisErr) || redisErr.IsNil() {
			continue
		}
		if ref, ok := decision.NewRefusal(r.Action, o, redisErr.Error()); ok {
			out = append(out, ref)
		}
	}
	return out
}

// countObserveErrors counts every pod of o that did not answer, or not to CONFIG GET.
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

// logMasterChange logs when the reported master changes: the master Service follows the report
// at the next sync, so this line dates the start of that move.
func logMasterChange(e *entry, r hooks.HealerReport) {
	was, is := "", ""
	if m := e.report.Master; m != nil {
		was = m.Pod
	}
	if m := r.Master; m != nil {
		is = m.Pod
	}
	if was != is {
		e.log.Info().Str("was", was).Str("is", is).Bool("failover_in_progress", r.FailoverInProgress).Msg("reported master")
	}
}

// noteMaster records the master a pass reports and tells whether it is another pod than the last
// master reported (passes that report none in between do not count). Caller holds p.mu.
func (e *entry) noteMaster(m *hooks.MasterStatus) bool {
	if m == nil {
		return false
	}
	moved := e.lastMaster != "" && m.Pod != e.lastMaster
	e.lastMaster = m.Pod
	return moved
}

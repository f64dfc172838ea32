package healer

import (
	"testing"
	"time"

	"github.com/redhook/redhook/healer/decision"
	"github.com/redhook/redhook/hooks"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewestFirst(t *testing.T) {
	rec := func(s string) hooks.ActionRecord { return hooks.ActionRecord{Action: s} }
	got := newestFirst([]hooks.ActionRecord{rec("c"), rec("d")}, []hooks.ActionRecord{rec("b"), rec("a")}, 3)
	assert.Equal(t, []hooks.ActionRecord{rec("d"), rec("c"), rec("b")}, got)
}

func TestBackoff(t *testing.T) {
	ms := time.Millisecond
	for fails, want := range map[int]time.Duration{1: 500 * ms, 2: time.Second, 3: 2 * time.Second, 8: 30 * time.Second, 100: 30 * time.Second} {
		assert.Equal(t, want, backoff(500*ms, 30*time.Second, fails), "fails %d", fails)
	}
}

func TestReschedule(t *testing.T) {
	now := time.Unix(1700000000, 0)
	healthy := hooks.HealerReport{Master: &hooks.MasterStatus{Pod: "rfr-a-0"}}
	failing := hooks.HealerReport{Master: healthy.Master, Errors: []string{"rfr-a-1: refused"}}
	tests := []struct {
		name   string
		e      entry
		r      hooks.HealerReport
		acts   []decision.Action
		held   int
		due    time.Duration
		fails  int
		result string
	}{
		{name: "healthy", r: healthy, due: 10 * time.Second, result: "ok"},
		{name: "acted", r: healthy, acts: []decision.Action{decision.Promote{Pod: "rfr-a-0"}}, due: time.Second, result: "ok"},
		{name: "switched over", r: healthy, acts: []decision.Action{decision.Switchover{Master: "rfr-a-1", Target: "rfr-a-0"}},
			due: 250 * time.Millisecond, result: "ok"},
		{name: "reported another master than the pass before", e: entry{moved: true}, r: healthy,
			due: 250 * time.Millisecond, result: "ok"},
		{name: "closed misdirected clients", r: healthy, acts: []decision.Action{decision.CloseClients{Pod: "rfr-a-1", IDs: []int64{3}}},
			due: 250 * time.Millisecond, result: "ok"},
		{name: "sentinel-less failover waiting for its detection time", r: hooks.HealerReport{
			Redis: []hooks.RedisReport{{Pod: "rfr-a-1", Reachable: true, Role: hooks.RoleReplica}}, Errors: []string{"rfr-a-0: i/o timeout"}},
			acts: []decision.Action{decision.Wait{Why: "rfr-a-1 has lost its link to rfr-a-0 for 1 s", Detecting: true}}, held: 1,
			due: 250 * time.Millisecond, result: "error"},
		{name: "waiting for anything else", r: healthy, acts: []decision.Action{decision.Wait{Why: "a sentinel's failover"}},
			due: time.Second, result: "ok"},
		{name: "a sentinel knows stale entries that rule 8 has yet to reset", e: entry{cleanupPasses: 1}, r: healthy,
			due: time.Second, result: "ok"},
		{name: "stale entries for the last allowed pass in a row", e: entry{cleanupPasses: maxCleanupPasses}, r: healthy,
			due: time.Second, result: "ok"},
		{name: "stale entries for more passes in a row than allowed: the healthy interval", e: entry{cleanupPasses: maxCleanupPasses + 1},
			r: healthy, due: 10 * time.Second, result: "ok"},
		{name: "no master", due: time.Second, result: "ok"},
		{name: "no master, no pod answers again: backs off", e: entry{idle: 3}, due: 8 * time.Second, result: "ok"},
		{name: "no master, no pod answers for long: capped", e: entry{idle: 40}, due: 2 * time.Minute, result: "ok"},
		{name: "no pod answers, errors: backoff up to the silent cap", e: entry{fails: 40}, r: hooks.HealerReport{
			Redis: []hooks.RedisReport{{Pod: "rfr-a-0"}}, Errors: []string{"rfr-a-0: refused"}}, due: 2 * time.Minute, fails: 41, result: "error"},
		{name: "no master but a pod answers: fast", e: entry{idle: 5}, r: hooks.HealerReport{Redis: []hooks.RedisReport{
			{Pod: "rfr-a-0", Reachable: true, Role: hooks.RoleReplica}}}, due: time.Second, result: "ok"},
		{name: "no master, acted: fast", e: entry{idle: 5}, acts: []decision.Action{decision.Promote{Pod: "rfr-a-0"}},
			due: time.Second, result: "ok"},
		{name: "failing over", r: hooks.HealerReport{Master: healthy.Master, FailoverInProgress: true}, due: time.Second, result: "ok"},
		{name: "a promotion announced, not seen yet: poll", e: entry{promotionUntil: now.Add(time.Second)},
			r: hooks.HealerReport{Master: healthy.Master, FailoverInProgress: true}, due: promotionPoll, result: "ok"},
		{name: "a promotion announced and reported: the usual follow-up", e: entry{promotionUntil: now.Add(time.Second), moved: true},
			r: hooks.HealerReport{Master: healthy.Master, FailoverInProgress: true}, due: 250 * time.Millisecond, result: "ok"},
		{name: "a promotion announced long ago: no more polling", e: entry{promotionUntil: now.Add(-time.Second)},
			r: hooks.HealerReport{Master: healthy.Master, FailoverInProgress: true}, due: time.Second, result: "ok"},
		{name: "first error", r: failing, due: 500 * time.Millisecond, fails: 1, result: "error"},
		{name: "third error", e: entry{fails: 2}, r: failing, due: 2 * time.Second, fails: 3, result: "error"},
		{name: "re-check asked for", e: entry{again: true, fails: 2}, r: failing, fails: 3, result: "error"},
		{name: "errors over", e: entry{fails: 5}, r: healthy, due: 10 * time.Second, result: "ok"},
		{name: "only held refusals: no backoff", e: entry{fails: 2}, r: failing, held: 1, due: 10 * time.Second, result: "error"},
		{name: "held refusal and another error", e: entry{fails: 2}, r: hooks.HealerReport{Master: healthy.Master,
			Errors: []string{"rfr-a-1: refused", "rfr-a-2: connection refused"}}, held: 1, due: 2 * time.Second, fails: 3, result: "error"},
	}
	p := &Pool{cfg: DefaultConfig()}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.e
			assert.Equal(t, tt.result, p.reschedule(&e, tt.r, tt.acts, tt.held, now))
			assert.Equal(t, now.Add(tt.due), e.due)
			assert.Equal(t, tt.fails, e.fails)
			assert.False(t, e.again)
		})
	}
}

// TestCleanupSoonBounded: passes come back soon for rule 8's resets at most maxCleanupPasses
// times in a row, and the count starts over once no sentinel has stale entries.
func TestCleanupSoonBounded(t *testing.T) {
	var e entry
	soon := 0
	for range maxCleanupPasses + 5 {
		e.noteCleanup(true)
		if e.cleanupSoon() {
			soon++
		}
	}
	assert.Equal(t, maxCleanupPasses, soon)
	e.noteCleanup(false)
	assert.False(t, e.cleanupSoon())
	e.noteCleanup(true)
	assert.True(t, e.cleanupSoon())
}

// TestIdleCountsPasses: the idle count grows with each pass that saw no master and no pod, and
// a pass that saw one starts it over.
func TestIdleCountsPasses(t *testing.T) {
	now := time.Unix(1700000000, 0)
	p := &Pool{cfg: DefaultConfig()}
	e := entry{}
	var waits []time.Duration
	for range 9 {
		p.reschedule(&e, hooks.HealerReport{}, nil, 0, now)
		waits = append(waits, e.due.Sub(now))
	}
	assert.Equal(t, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second,
		16 * time.Second, 32 * time.Second, 64 * time.Second, 2 * time.Minute, 2 * time.Minute}, waits)
	p.reschedule(&e, hooks.HealerReport{Sentinels: []hooks.SentinelReport{{Pod: "rfs-a", Reachable: true}}}, nil, 0, now)
	assert.Equal(t, 0, e.idle)
	assert.Equal(t, now.Add(time.Second), e.due)
}

// TestTrackWakesAndStartsBackoffsOver: an unchanged topology leaves the schedule alone; a changed
// one asks for a pass now and starts the backoffs over, so the passes after a change run at
// their usual pace.
func TestTrackWakesAndStartsBackoffsOver(t *testing.T) {
	p, err := NewPool(Config{}, zerolog.Nop())
	require.NoError(t, err)
	tp := hooks.Topology{Namespace: "ns", Name: "a", RedisPort: 6379, Redis: []hooks.PodRef{{Name: "rfr-a-0", IP: "127.0.0.1"}}}
	p.Track(tp)
	e := p.entries[tp.Key()]
	later := time.Now().Add(time.Hour)
	e.due, e.fails, e.idle = later, 4, 6
	p.Track(tp)
	assert.Equal(t, later, e.due, "unchanged: the backoff holds")
	assert.Equal(t, 4, e.fails)
	assert.Equal(t, 6, e.idle)

	tp.Redis = []hooks.PodRef{{Name: "rfr-a-0", IP: "127.0.0.1", Ready: true}} // a new slice: e.topo shares the old one
	p.Track(tp)
	assert.False(t, e.due.After(time.Now()), "changed: a pass now")
	assert.Equal(t, 0, e.fails)
	assert.Equal(t, 0, e.idle)
}

func TestWatchDelay(t *testing.T) {
	p := &Pool{cfg: DefaultConfig()} // WatchInterval 200 ms, MaxBackoff 30 s
	now := time.Unix(1700000000, 0)
	ms := time.Millisecond
	assert.Equal(t, 200*ms, p.watchDelay(time.Time{}, false, now), "master answers")
	assert.Equal(t, 25*ms, p.watchDelay(time.Time{}, true, now), "master answers, its pod terminates: eight times as often")
	assert.Equal(t, 50*ms, p.watchDelay(now.Add(-time.Second), false, now), "just went away: four times as often")
	assert.Equal(t, 50*ms, p.watchDelay(now.Add(-time.Second), true, now))
	assert.Equal(t, 50*ms, p.watchDelay(now.Add(-9*time.Second), false, now))
	assert.Equal(t, 200*ms, p.watchDelay(now.Add(-watchAwayFast), false, now), "then back off")
	assert.Greater(t, p.watchDelay(now.Add(-watchAwayFast-5*time.Second), false, now), 2*time.Second)
	assert.Equal(t, 30*time.Second, p.watchDelay(now.Add(-time.Hour), false, now), "capped")
}

func TestNoteMaster(t *testing.T) {
	var e entry
	a, b := &hooks.MasterStatus{Pod: "rfr-a-0"}, &hooks.MasterStatus{Pod: "rfr-a-1"}
	for i, step := range []struct {
		m     *hooks.MasterStatus
		moved bool
	}{{a, false}, {a, false}, {nil, false}, {b, true}, {b, false}, {a, true}} {
		assert.Equal(t, step.moved, e.noteMaster(step.m), "step %d", i)
	}
}

package healer

import (
	"testing"
	"time"

	"github.com/redhook/redhook/healer/decision"
	"github.com/redhook/redhook/hooks"
	"github.com/stretchr/testify/assert"
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
		{name: "closed misdirected clients", r: healthy, acts: []decision.Action{decision.CloseClients{Pod: "rfr-a-1", IDs: []int64{3}}},
			due: 250 * time.Millisecond, result: "ok"},
		{name: "no master", due: time.Second, result: "ok"},
		{name: "failing over", r: hooks.HealerReport{Master: healthy.Master, FailoverInProgress: true}, due: time.Second, result: "ok"},
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

package decision

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestHoldSwitchover: SwitchoverRetries failures in a row of one master hold its switchovers back
// for SwitchoverHold; a success, a restarted master or the time passing lets them through again.
func TestHoldSwitchover(t *testing.T) {
	_, o := healthy()
	o.Time = time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	sw := Switchover{Master: "rfr-a-0", Target: "rfr-a-1", Sentinel: "rfs-a-x", Why: "rollout"}
	acts := []Action{ReplicaPriority{Pod: "rfr-a-2", Value: "100", Why: "steer"}, sw}
	fail := errors.New("rfr-a-1 did not catch up within 3s")

	var f SwitchoverFailures
	for i := 1; i < SwitchoverRetries; i++ {
		f = f.Record(sw, o, fail)
		send, errs := HoldSwitchover(acts, o, f)
		assert.Equal(t, acts, send, "after %d failures", i)
		assert.Empty(t, errs)
	}
	f = f.Record(sw, o, fail)
	assert.Equal(t, SwitchoverFailures{Master: "rfr-a-0", RunID: "run0", Count: SwitchoverRetries, Last: o.Time, Err: fail.Error()}, f)

	later := o
	later.Time = o.Time.Add(time.Minute)
	send, errs := HoldSwitchover(acts, later, f)
	assert.Equal(t, acts[:1], send, "held back; the other actions go out")
	assert.Equal(t, []string{"rfr-a-0: 3 planned switchovers failed in a row (last: rfr-a-1 did not catch up within 3s); " +
		"held back until 2026-11-01T10:10:00Z, or until the master restarts"}, errs)

	expired := o
	expired.Time = o.Time.Add(SwitchoverHold)
	send, _ = HoldSwitchover(acts, expired, f)
	assert.Equal(t, acts, send, "tried again after SwitchoverHold")

	restarted := later
	restarted.Redis = append([]RedisNode(nil), o.Redis...)
	restarted.Redis[0].Info.RunID = "run0-new"
	send, _ = HoldSwitchover(acts, restarted, f)
	assert.Equal(t, acts, send, "a restarted master is tried again")
	assert.Equal(t, 1, f.Record(sw, restarted, fail).Count, "and counted anew")

	other := Switchover{Master: "rfr-a-1", Target: "rfr-a-2", Sentinel: "rfs-a-x", Why: "rollout"}
	send, _ = HoldSwitchover([]Action{other}, later, f)
	assert.Equal(t, []Action{other}, send, "another master's switchover is not held")

	assert.Equal(t, SwitchoverFailures{}, f.Record(sw, later, nil), "a success resets the count")
}

package rediscluster

import (
	"sync"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestForgetDuringAPassThenTrack: Forget while a pass runs, then Track, must give back the
// same entry (still busy: no second pass at once), and the pass's end must keep it; Forget
// during a pass without a Track after it removes the entry when the pass ends.
func TestForgetDuringAPassThenTrack(t *testing.T) {
	h := New(Config{}, zerolog.Nop())
	top := Topology{Namespace: "ns", Name: "c", NumberOfMaster: 1}
	h.Track(top)
	h.mu.Lock()
	e := h.entries[top.Key()]
	require.NotNil(t, e)
	e.busy = true // a pass is under way
	h.mu.Unlock()

	h.Forget("ns", "c")
	assert.Equal(t, Report{}, h.Report("ns", "c"), "a forgotten cluster has no report")
	h.Track(top)
	h.mu.Lock()
	assert.Len(t, h.entries, 1)
	assert.Same(t, e, h.entries[top.Key()], "Track reuses the entry whose pass runs")
	assert.True(t, e.busy, "no second pass while the first runs")
	assert.False(t, e.gone)
	assert.True(t, e.again, "a pass follows the one under way")
	h.endPass(e)
	assert.Same(t, e, h.entries[top.Key()], "tracked again: kept when the pass ends")
	h.mu.Unlock()

	// Forgotten during a pass, not tracked again: gone when the pass ends.
	h.mu.Lock()
	e.busy = true
	h.mu.Unlock()
	h.Forget("ns", "c")
	h.mu.Lock()
	h.endPass(e)
	assert.Empty(t, h.entries)
	h.mu.Unlock()

	// Concurrent Track, Forget and Report (run with -race).
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				h.Track(top)
				_ = h.Report("ns", "c")
				h.Forget("ns", "c")
			}
		})
	}
	wg.Wait()
	h.mu.Lock()
	assert.LessOrEqual(t, len(h.entries), 1)
	h.mu.Unlock()
}

func TestRedact(t *testing.T) {
	msg := "ERR unknown command 'MIGRATE', with args beginning with: '127.0.0.2' '6379' '' '0' '1250' 'REPLACE' 'AUTH2' 'default' 's3cr"
	got := redact(msg, "s3cretpw")
	assert.NotContains(t, got, "s3cr", "a truncated password is cut too")
	assert.Contains(t, got, "unknown command 'MIGRATE'")
	assert.Equal(t, "dial 10.0.0.1: [redacted] refused", redact("dial 10.0.0.1: s3cretpw refused", "s3cretpw"))
	assert.Equal(t, "no secret here", redact("no secret here", "s3cretpw"))
	assert.NotContains(t, redact("x 'auth' 'pw'", ""), "pw")
	assert.Same(t, errOutOfTime, redactErr(errOutOfTime, "s3cretpw"), "sentinel errors stay comparable")
}

package healer

import (
	"testing"
	"time"

	"github.com/redhook/redhook/hooks"
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

func TestConfig(t *testing.T) {
	assert.NoError(t, Config{}.WithDefaults().Validate())
	c := DefaultConfig()
	c.Workers, c.MaxBackoff = 0, time.Millisecond
	err := c.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "workers 0")
	assert.Contains(t, err.Error(), "max backoff 1ms is below min backoff 500ms")
}

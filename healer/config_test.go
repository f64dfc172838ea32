package healer

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConfig(t *testing.T) {
	assert.NoError(t, Config{}.WithDefaults().Validate())
	c := DefaultConfig()
	c.Workers, c.MaxBackoff = 0, time.Millisecond
	err := c.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "workers 0")
	assert.Contains(t, err.Error(), "max backoff 1ms is below min backoff 500ms")
}

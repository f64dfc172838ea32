package local

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConfigValidate(t *testing.T) {
	err := Config{BaseIP: net.ParseIP("10.0.0.1"), MasterPort: 70000, RestartDelay: -time.Second}.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "-f FILE is required")
	assert.Contains(t, err.Error(), "--base-ip")
	assert.Contains(t, err.Error(), "--master-port 70000")
	assert.Contains(t, err.Error(), "--restart-delay")
	assert.Equal(t, "127.0.11.2", addIP(net.ParseIP("127.0.10.1").To4(), 257).String())
}

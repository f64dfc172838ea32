package decision

import (
	"testing"

	"github.com/redhook/redhook/hooks"
	"github.com/stretchr/testify/assert"
)

func TestConfigKeys(t *testing.T) {
	top := topo()
	top.RedisConfig = []hooks.ConfigEntry{{Key: "maxmemory", Value: "1"}, {Key: "save", Value: ""}, {Key: "maxmemory", Value: "2"}}
	assert.Equal(t, []string{"maxmemory", "save", "replica-priority"}, ConfigKeys(top))
	top.Bootstrap = &hooks.Endpoint{Host: "192.0.2.7", Port: 6379}
	assert.Equal(t, []string{"maxmemory", "save", "replica-priority"}, ConfigKeys(top))
}

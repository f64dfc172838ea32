package decision

import (
	"testing"

	"github.com/redhook/redhook/hooks"
	"github.com/stretchr/testify/assert"
)

// TestActionWords pins what every action says: String and Kind reach logs, statuses, goldens
// and metric labels, whatever the Go names of the types.
func TestActionWords(t *testing.T) {
	m := hooks.Endpoint{Host: "10.0.0.10", Port: 6379}
	tests := []struct {
		a          Action
		kind, text string
	}{
		{ReplicaOf{Pod: "rfr-a-1", MasterPod: "rfr-a-0", Master: m}, "replicaof", "replicaof rfr-a-1 10.0.0.10:6379 (rfr-a-0)"},
		{ReplicaOf{Pod: "rfr-a-1", Master: m}, "replicaof", "replicaof rfr-a-1 10.0.0.10:6379"},
		{Promote{Pod: "rfr-a-0"}, "promote", "promote rfr-a-0"},
		{ConfigSet{Pod: "rfr-a-0", Key: "maxmemory", Value: "100mb"}, "config-set", `config set rfr-a-0 maxmemory "100mb"`},
		{ReplicaPriority{Pod: "rfr-a-2", Value: "1"}, "replica-priority", "replica-priority rfr-a-2 1"},
		{SentinelRemove{Sentinel: "rfs-a-x"}, "sentinel-remove", "sentinel remove rfs-a-x"},
		{SentinelMonitor{Sentinel: "rfs-a-x", MasterPod: "rfr-a-0", Master: m, Quorum: 2}, "sentinel-monitor",
			"sentinel monitor rfs-a-x 10.0.0.10:6379 quorum 2 (rfr-a-0)"},
		{SentinelSet{Sentinel: "rfs-a-x", Key: "parallel-syncs", Value: "2"}, "sentinel-set", `sentinel set rfs-a-x parallel-syncs "2"`},
		{SentinelSet{Sentinel: "rfs-a-x", Key: "auth-pass", Value: "s3cret", Password: true}, "sentinel-set",
			"sentinel set rfs-a-x auth-pass [redacted]"},
		{SentinelReset{Sentinel: "rfs-a-y"}, "sentinel-reset", "sentinel reset rfs-a-y"},
		{SentinelFailover{Sentinel: "rfs-a-z"}, "sentinel-failover", "sentinel failover rfs-a-z"},
		{SentinelDebug{Sentinel: "rfs-a-x", Key: "INFO-PERIOD", Millis: 1000}, "sentinel-debug", "sentinel debug rfs-a-x info-period 1000"},
		{Switchover{Master: "rfr-a-0", Target: "rfr-a-2", Sentinel: "rfs-a-y"}, "switchover", "switchover rfr-a-0 to rfr-a-2 (rfs-a-y)"},
		{Wait{Why: "not yet"}, "wait", "wait"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.kind, tt.a.Kind(), "%T", tt.a)
		assert.Equal(t, tt.text, tt.a.String(), "%T", tt.a)
	}
}

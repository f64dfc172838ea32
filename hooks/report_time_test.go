package hooks

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReportTimeRead: on every golden case with a known report, a result that says it did not
// read the report's time is the same, byte for byte, with a report made at another time; one that
// says it did differs. The next request of a steady RedisFailover (its parent carrying the status
// of the last response, as Metacontroller sends it) reads no time.
func TestReportTimeRead(t *testing.T) {
	var read, unread int
	for _, c := range loadGoldenCases(t) {
		if !c.obs.Known() {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			later := c.obs
			later.Time = c.obs.Time.Add(97*time.Minute + 13*time.Second)
			first := syncDecoded(t, c.raw, c.obs)
			second := syncDecoded(t, c.raw, later)
			if first.ReportTimeRead {
				read++
				assert.NotEqual(t, string(encodeResponse(t, first.Response)), string(encodeResponse(t, second.Response)),
					"the time was read: it shows in the response")
			} else {
				unread++
				assert.Equal(t, string(encodeResponse(t, first.Response)), string(encodeResponse(t, second.Response)))
				assert.Equal(t, first.Topology, second.Topology)
			}

			// The next sync of a steady RedisFailover: the parent carries the last status.
			steady, err := DecodeSyncRequest(c.raw)
			require.NoError(t, err)
			steady.Parent.Status = first.Response.Status
			again := SyncDetailed(&steady, later)
			if !hasUntimedAction(c.obs) {
				assert.False(t, again.ReportTimeRead, "no condition flips on the next sync")
			}
		})
	}
	assert.Positive(t, read, "some golden cases stamp a condition with the report's time")
	assert.Positive(t, unread, "some golden cases do not read it")
}

func syncDecoded(t *testing.T, raw []byte, obs HealerReport) SyncResult {
	t.Helper()
	req, err := DecodeSyncRequest(raw)
	require.NoError(t, err)
	return SyncDetailed(&req, obs)
}

// hasUntimedAction tells whether the report has a recent action without a time, which the
// status stamps with the report's time on every sync.
func hasUntimedAction(obs HealerReport) bool {
	for i, a := range obs.LastActions {
		if i < maxLastActions && a.Time.IsZero() {
			return true
		}
	}
	return false
}

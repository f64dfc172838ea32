package redistest

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFailoverAttemptsFromLog reads one elected failover and one aborted attempt from a
// sentinel log as Redis 7 writes it, lines before the offset and a banner line left out.
func TestFailoverAttemptsFromLog(t *testing.T) {
	before := "1:X 30 Nov 2026 23:22:30.000 # +try-failover master m 10.0.0.9 6379\n"
	log := before + `                _._
1:X 30 Nov 2026 23:22:38.412 # +sdown master m 10.0.0.1 6379
1:X 30 Nov 2026 23:22:38.484 # +new-epoch 7
1:X 30 Nov 2026 23:22:38.484 # +try-failover master m 10.0.0.1 6379
1:X 30 Nov 2026 23:22:38.576 # +elected-leader master m 10.0.0.1 6379
1:X 30 Nov 2026 23:22:38.652 # +selected-slave slave 10.0.0.2:6379 10.0.0.2 6379 @ m 10.0.0.1 6379
1:X 30 Nov 2026 23:22:38.711 * +failover-state-wait-promotion slave 10.0.0.2:6379 10.0.0.2 6379 @ m 10.0.0.1 6379
1:X 30 Nov 2026 23:22:39.130 # +promoted-slave slave 10.0.0.2:6379 10.0.0.2 6379 @ m 10.0.0.1 6379
1:X 30 Nov 2026 23:22:40.252 # +failover-end master m 10.0.0.1 6379
1:X 30 Nov 2026 23:22:50.000 # Executing user requested FAILOVER of 'mymaster'
1:X 30 Nov 2026 23:22:50.000 # +new-epoch 8
1:X 30 Nov 2026 23:22:50.001 # +try-failover master m 10.0.0.2 6379
1:X 30 Nov 2026 23:23:00.001 # -failover-abort-no-good-slave master m 10.0.0.2 6379
`
	p := &Proc{Name: "s", Dir: t.TempDir()}
	require.NoError(t, os.WriteFile(filepath.Join(p.Dir, logName), []byte(log), 0o600))
	at := func(clock string) time.Time {
		v, err := time.ParseInLocation(logTimeLayout, "30 Nov 2026 "+clock, time.Local)
		require.NoError(t, err)
		return v
	}

	got, err := p.FailoverAttempts(int64(len(before)))
	require.NoError(t, err)
	assert.Equal(t, []FailoverAttempt{{
		Sentinel: "s", Epoch: 7, Start: at("23:22:38.484"), End: at("23:22:40.252"), Elected: true,
		Promoted: "10.0.0.2:6379", PromotionSent: at("23:22:38.711"), PromotionSeen: at("23:22:39.130"),
	}, {
		Sentinel: "s", Epoch: 8, Start: at("23:22:50.001"), End: at("23:23:00.001"), Forced: true,
		Aborted: "-failover-abort-no-good-slave",
	}}, got)
}

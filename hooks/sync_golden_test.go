package hooks

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/sync")

// goldenCase is one folder of testdata/sync: request.json, an optional observation.json (the healer report; absent:
// the healer has not reported) and response.golden.json.
type goldenCase struct {
	name string
	dir  string
	raw  []byte
	req  SyncRequest
	obs  HealerReport
}

func loadGoldenCases(t testing.TB) []goldenCase {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join("testdata", "sync", "*"))
	require.NoError(t, err)
	require.NotEmpty(t, dirs, "no golden cases")
	var cases []goldenCase
	for _, dir := range dirs {
		c := goldenCase{name: filepath.Base(dir), dir: dir}
		c.raw, err = os.ReadFile(filepath.Join(dir, "request.json"))
		require.NoError(t, err)
		c.req, err = DecodeSyncRequest(c.raw)
		require.NoError(t, err, c.name)
		if b, err := os.ReadFile(filepath.Join(dir, "observation.json")); err == nil {
			require.NoError(t, json.Unmarshal(b, &c.obs), c.name)
		}
		cases = append(cases, c)
	}
	return cases
}

func encodeResponse(t testing.TB, resp SyncResponse) []byte {
	t.Helper()
	b, err := json.MarshalIndent(resp, "", "  ")
	require.NoError(t, err)
	return append(b, '\n')
}

func TestSyncGolden(t *testing.T) {
	for _, c := range loadGoldenCases(t) {
		t.Run(c.name, func(t *testing.T) {
			got := encodeResponse(t, Sync(&c.req, c.obs))
			path := filepath.Join(c.dir, "response.golden.json")
			if *update {
				require.NoError(t, os.WriteFile(path, got, 0o644))
				return
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run `make golden` to create it")
			assert.Equal(t, string(want), string(got), "rerun with -update and review the diff")
		})
	}
}

// TestSyncDeterministic: the same request decoded twice gives byte-identical responses.
func TestSyncDeterministic(t *testing.T) {
	for _, c := range loadGoldenCases(t) {
		t.Run(c.name, func(t *testing.T) {
			again, err := DecodeSyncRequest(c.raw)
			require.NoError(t, err)
			a := encodeResponse(t, Sync(&c.req, c.obs))
			b := encodeResponse(t, Sync(&again, c.obs))
			assert.True(t, bytes.Equal(a, b))
		})
	}
}

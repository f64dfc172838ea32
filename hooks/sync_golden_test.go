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
type goldenCase = goldenFolder[SyncRequest, HealerReport]

// goldenFolder is one golden case of a parent kind whose request is R and healer report O.
type goldenFolder[R, O any] struct {
	name string
	dir  string
	raw  []byte
	req  R
	obs  O
}

func loadGoldenCases(t testing.TB) []goldenCase {
	return loadGoldenFolders[SyncRequest, HealerReport](t, "sync", DecodeSyncRequest)
}

// loadGoldenFolders reads every case of testdata/<folder>.
func loadGoldenFolders[R, O any](t testing.TB, folder string, decode func([]byte) (R, error)) []goldenFolder[R, O] {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join("testdata", folder, "*"))
	require.NoError(t, err)
	require.NotEmpty(t, dirs, "no golden cases")
	var cases []goldenFolder[R, O]
	for _, dir := range dirs {
		c := goldenFolder[R, O]{name: filepath.Base(dir), dir: dir}
		c.raw, err = os.ReadFile(filepath.Join(dir, "request.json"))
		require.NoError(t, err)
		c.req, err = decode(c.raw)
		require.NoError(t, err, c.name)
		if b, err := os.ReadFile(filepath.Join(dir, "observation.json")); err == nil {
			require.NoError(t, json.Unmarshal(b, &c.obs), c.name)
		}
		cases = append(cases, c)
	}
	return cases
}

// assertGolden compares got with dir/response.golden.json, or rewrites it with -update.
func assertGolden(t *testing.T, dir string, got []byte) {
	t.Helper()
	path := filepath.Join(dir, "response.golden.json")
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run `make golden` to create it")
	assert.Equal(t, string(want), string(got), "rerun with -update and review the diff")
}

func encodeResponse(t testing.TB, resp any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(resp, "", "  ")
	require.NoError(t, err)
	return append(b, '\n')
}

func TestSyncGolden(t *testing.T) {
	for _, c := range loadGoldenCases(t) {
		t.Run(c.name, func(t *testing.T) {
			assertGolden(t, c.dir, encodeResponse(t, Sync(&c.req, c.obs)))
		})
	}
}

// TestSyncDeterministic: the same request decoded twice gives byte-identical responses.
func TestSyncDeterministic(t *testing.T) {
	assertDeterministic(t, loadGoldenCases(t), DecodeSyncRequest,
		func(r *SyncRequest, o HealerReport) any { return Sync(r, o) })
}

// assertDeterministic: for every case, the request decoded again gives a byte-identical response.
func assertDeterministic[R, O any](t *testing.T, cases []goldenFolder[R, O], decode func([]byte) (R, error), sync func(*R, O) any) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			again, err := decode(c.raw)
			require.NoError(t, err)
			a := encodeResponse(t, sync(&c.req, c.obs))
			b := encodeResponse(t, sync(&again, c.obs))
			assert.True(t, bytes.Equal(a, b))
		})
	}
}

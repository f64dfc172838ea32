package hooks

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// TestPrinterColumnsShowCounts: `kubectl get rf` shows the redis and sentinel counts also when
// the spec omits replicas (0 means the default): the REDIS and SENTINELS columns must read a
// field that a sync always fills in, for every golden case.
func TestPrinterColumnsShowCounts(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "manifests", "crd", Group+"_redisfailovers.yaml"))
	require.NoError(t, err)
	var crd struct {
		Spec struct {
			Versions []struct {
				Columns []struct {
					Name     string `json:"name"`
					JSONPath string `json:"jsonPath"`
				} `json:"additionalPrinterColumns"`
			} `json:"versions"`
		} `json:"spec"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &crd))
	require.Len(t, crd.Spec.Versions, 1)
	paths := map[string]string{}
	for _, c := range crd.Spec.Versions[0].Columns {
		paths[c.Name] = c.JSONPath
	}
	for _, c := range loadGoldenCases(t) {
		resp := Sync(&c.req, c.obs)
		// The object as the API server stores it: the user's spec, the status of the sync.
		b, err := json.Marshal(map[string]any{"spec": c.req.Parent.Spec, "status": resp.Status})
		require.NoError(t, err)
		var obj map[string]any
		require.NoError(t, json.Unmarshal(b, &obj))
		for _, col := range []string{"REDIS", "SENTINELS"} {
			require.Contains(t, paths, col)
			_, found := lookup(obj, paths[col])
			assert.True(t, found, "%s: column %s (%s) is blank", c.name, col, paths[col])
		}
	}
}

// lookup follows a simple JSONPath (.a.b.c) through decoded JSON.
func lookup(obj any, path string) (any, bool) {
	for _, key := range strings.Split(strings.TrimPrefix(path, "."), ".") {
		m, ok := obj.(map[string]any)
		if !ok {
			return nil, false
		}
		if obj, ok = m[key]; !ok {
			return nil, false
		}
	}
	return obj, true
}

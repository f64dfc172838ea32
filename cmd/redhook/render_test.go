package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

func TestRenderEveryExample(t *testing.T) {
	files, err := filepath.Glob("../../manifests/examples/*.yaml")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 7)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run([]string{"render", "-f", f}, &out, &errOut)
			require.Equal(t, 0, code, errOut.String())
			docs := strings.Split(out.String(), "---\n")[1:]
			require.GreaterOrEqual(t, len(docs), 9, "too few children")
			kinds := map[string]int{}
			for _, d := range docs {
				var obj struct {
					Kind     string `json:"kind"`
					Metadata struct {
						Name string `json:"name"`
					} `json:"metadata"`
				}
				require.NoError(t, yaml.Unmarshal([]byte(d), &obj))
				require.NotEmpty(t, obj.Metadata.Name)
				kinds[obj.Kind]++
			}
			assert.Equal(t, 1, kinds["StatefulSet"])
			assert.GreaterOrEqual(t, kinds["Service"], 3)
			assert.Equal(t, 2, kinds["EndpointSlice"])
			assert.NotContains(t, out.String(), "change-me-to-something-long", "passwords only base64 in Secrets")
		})
	}
}

func TestRenderInvalidSpec(t *testing.T) {
	var out, errOut bytes.Buffer
	in := strings.NewReader(`apiVersion: databases.spotahome.com/v1
kind: RedisFailover
metadata: {name: broken}
spec:
  redis:
    customConfig: ["maxmemory 1gb", "port 7000"]
`)
	code := render([]string{"-f", "-"}, in, &out, &errOut)
	assert.Equal(t, 1, code)
	assert.Empty(t, out.String(), "nothing is printed for an invalid spec")
	assert.Contains(t, errOut.String(), `spec.redis.customConfig[1]: "port" is managed by redhook`)
}

func TestRenderMissingSecret(t *testing.T) {
	var out, errOut bytes.Buffer
	in := strings.NewReader(`{"apiVersion":"databases.spotahome.com/v1","kind":"RedisFailover","metadata":{"name":"a"},"spec":{"auth":{"secretPath":"pw"}}}`)
	assert.Equal(t, 1, render([]string{"-f", "-"}, in, &out, &errOut))
	assert.Contains(t, errOut.String(), `names Secret "pw"`)
}

func TestRunUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	assert.Equal(t, 2, run(nil, &out, &errOut))
	assert.Equal(t, 2, run([]string{"bogus"}, &out, &errOut))
	assert.Equal(t, 0, run([]string{"version"}, &out, &errOut))
	assert.Contains(t, out.String(), "redhook dev")
}

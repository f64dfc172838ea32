package main

import (
	"bytes"
	"os"
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
			skipRedisCluster(t, f)
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

// skipRedisCluster skips a manifest file of a RedisCluster: `redhook render` renders
// RedisFailovers only (docs/redis-cluster.md, "What is not done"); the RedisCluster examples and
// invalid files are checked against the API server and SyncCluster in manifests/.
func skipRedisCluster(t *testing.T, path string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	if strings.Contains(string(raw), "\nkind: RedisCluster\n") {
		t.Skip("a RedisCluster: redhook render renders RedisFailovers only")
	}
}

// redhook render says so for a RedisCluster rather than rendering nothing silently.
func TestRenderRedisClusterUnsupported(t *testing.T) {
	code, out, errOut := renderStdin(t, "apiVersion: redhook.io/v1alpha1\nkind: RedisCluster\nmetadata: {name: c}\n")
	assert.Equal(t, 1, code)
	assert.Empty(t, out)
	assert.Contains(t, errOut, "no RedisFailover in the input")
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

// renderStdin runs render on in with args and returns the exit code, stdout and stderr.
func renderStdin(t *testing.T, in string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := render(append([]string{"-f", "-"}, args...), strings.NewReader(in), &out, &errOut)
	return code, out.String(), errOut.String()
}

// childReplicas returns spec.replicas of the rendered child of the given kind.
func childReplicas(t *testing.T, out, kind string) int {
	t.Helper()
	for _, d := range strings.Split(out, "---\n")[1:] {
		var obj struct {
			Kind string `json:"kind"`
			Spec struct {
				Replicas int `json:"replicas"`
			} `json:"spec"`
		}
		require.NoError(t, yaml.Unmarshal([]byte(d), &obj))
		if obj.Kind == kind {
			return obj.Spec.Replicas
		}
	}
	t.Fatalf("no %s rendered", kind)
	return 0
}

// The API server matches keys case-sensitively: "Replicas" is an unknown field, pruned, and the
// default applies. Render must not read it as "replicas", and must say that it dropped it.
func TestRenderUnknownFieldIsDroppedWithWarning(t *testing.T) {
	in := `apiVersion: databases.spotahome.com/v1
kind: RedisFailover
metadata: {name: basic}
spec:
  sentinel: {Replicas: 7}
  redis: {replicas: 5, colour: blue}
`
	code, out, errOut := renderStdin(t, in)
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, 3, childReplicas(t, out, "Deployment"), "Replicas is not replicas: the default applies")
	assert.Equal(t, 5, childReplicas(t, out, "StatefulSet"))
	assert.Equal(t, `warning: -: document 1: RedisFailover default/basic: unknown field "spec.redis.colour"
warning: -: document 1: RedisFailover default/basic: unknown field "spec.sentinel.Replicas"
`, errOut)
}

func TestRenderStrictRejectsUnknownFields(t *testing.T) {
	in := `apiVersion: v1
kind: Secret
metadata: {name: pw}
StringData: {password: change-me-to-something-long}
---
{"apiVersion":"databases.spotahome.com/v1","kind":"RedisFailover","metadata":{"name":"a"},"spec":{"auth":{"secretPath":"pw"}}}
`
	code, out, errOut := renderStdin(t, in, "--strict")
	assert.Equal(t, 1, code)
	assert.Empty(t, out)
	assert.Equal(t, `redhook render: -: document 1: Secret default/pw is rejected by strict field validation (--strict):
  unknown field "StringData"
`, errOut)
	assert.NotContains(t, errOut, "change-me")

	code, _, errOut = renderStdin(t, in)
	assert.Equal(t, 1, code, "without --strict StringData is dropped: the Secret has no password")
	assert.Contains(t, errOut, `warning: -: document 1: Secret default/pw: unknown field "StringData"`)

	var help bytes.Buffer
	assert.Equal(t, 0, render([]string{"-h"}, nil, &help, &help))
	assert.Contains(t, help.String(), "-strict")
}

func TestRenderDuplicateKeyWarns(t *testing.T) {
	code, out, errOut := renderStdin(t, `{"kind":"RedisFailover","metadata":{"name":"a"},"spec":{"redis":{"replicas":4,"replicas":2}}}`)
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, 2, childReplicas(t, out, "StatefulSet"), "the last of duplicate keys wins")
	assert.Equal(t, "warning: -: document 1: RedisFailover default/a: duplicate field \"spec.redis.replicas\"\n", errOut)
}

func TestRenderDuplicateDocuments(t *testing.T) {
	doc := "apiVersion: databases.spotahome.com/v1\nkind: RedisFailover\nmetadata: {name: basic}\n"
	code, out, errOut := renderStdin(t, doc+"---\n"+doc+"metadata: {name: other}\n---\n"+doc+"spec: {redis: {replicas: 5}}\n")
	assert.Equal(t, 1, code)
	assert.Empty(t, out)
	assert.Equal(t, "redhook render: -: document 3: RedisFailover default/basic: same kind, namespace and name as -: document 1 (applied, the second would replace the first)\n", errOut)

	code, _, errOut = renderStdin(t, doc+"---\n"+strings.Replace(doc, "{name: basic}", "{name: basic, namespace: other}", 1))
	assert.Equal(t, 0, code, "same name in another namespace: "+errOut)
}

func TestRenderSecretWithoutPassword(t *testing.T) {
	in := `apiVersion: v1
kind: Secret
metadata: {name: pw}
stringData: {pass: change-me-to-something-long, user: me}
---
{"apiVersion":"databases.spotahome.com/v1","kind":"RedisFailover","metadata":{"name":"a"},"spec":{"auth":{"secretPath":"pw"}}}
`
	code, out, errOut := renderStdin(t, in)
	assert.Equal(t, 1, code)
	assert.Empty(t, out)
	assert.Equal(t, `redhook render: -: document 2: RedisFailover default/a: spec.auth.secretPath names Secret default/pw: found in the input, but it has no "password" key (its keys: pass, user)
`, errOut)
	assert.NotContains(t, errOut, "change-me")
}

// Every value of the wrong type is reported at once, with the path the API server prints.
func TestRenderTypeErrors(t *testing.T) {
	in := `apiVersion: databases.spotahome.com/v1
kind: RedisFailover
metadata: {name: typed}
spec:
  redis:
    replicas: "three"
    customConfig: ["maxmemory 1gb", 7, "port 7000"]
    initContainers: [{name: a, image: x}, {name: 1, image: x}]
    nodeSelector: {disk: true}
  sentinel:
    replicas: 2.5
    resources: {limits: {cpu: true, memory: lots}}
  labelWhitelist: "app"
`
	code, out, errOut := renderStdin(t, in)
	assert.Equal(t, 1, code)
	assert.Empty(t, out)
	assert.Equal(t, `redhook render: -: document 1: RedisFailover default/typed is invalid:
  spec.labelWhitelist: must be of type array, not string
  spec.redis.customConfig[1]: must be of type string, not number
  spec.redis.initContainers[1].name: must be of type string, not number
  spec.redis.nodeSelector.disk: must be of type string, not boolean
  spec.redis.replicas: must be of type integer, not string
  spec.sentinel.replicas: must be of type integer, not number
  spec.sentinel.resources.limits.cpu: must be of type integer or string, not boolean
  spec.sentinel.resources.limits.memory: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'
  spec.redis.customConfig[2]: "port" is managed by redhook
`, errOut)
}

// render --strict rejects every file the API server rejects (manifests/testdata/invalid, checked
// against a real API server in manifests), naming the field the API server names.
func TestRenderStrictRejectsWhatTheAPIServerRejects(t *testing.T) {
	files, err := filepath.Glob("../../manifests/testdata/invalid/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			skipRedisCluster(t, f)
			raw, err := os.ReadFile(f)
			require.NoError(t, err)
			var out, errOut bytes.Buffer
			require.Equal(t, 1, run([]string{"render", "--strict", "-f", f}, &out, &errOut), "rendered %s", f)
			for _, line := range strings.Split(string(raw), "\n") {
				expect, ok := strings.CutPrefix(line, "# expect: ")
				if !ok {
					continue
				}
				if strings.HasPrefix(expect, "unknown field ") {
					assert.Contains(t, errOut.String(), "  "+expect+"\n")
				} else if path, _, found := strings.Cut(expect, ": "); found {
					assert.Contains(t, errOut.String(), "  "+path+": ")
				}
			}
		})
	}
}

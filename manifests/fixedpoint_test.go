package manifests_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/redhook/redhook/manifests/internal/driver"
)

// (f) Zero writes at steady state. Metacontroller applies a child with a 3-way merge of the
// observed object, its last-applied annotation and the new desired object, and writes when the
// merge differs from what it observed. So every field redhook renders must already hold the
// value the API server stores for it: a value the server normalises, defaults inside a list the
// merge replaces whole, or drops (an empty list or map) makes a write on every sync.
//
// Every child of every golden sync response and of every example is created for real, read
// back, and compared field by field with what was rendered.

func TestGoldenChildrenFixedPoint(t *testing.T) {
	installCRD(t)
	for _, g := range goldenDirs(t) {
		f, name := g.response(), g.name
		t.Run(name, func(t *testing.T) {
			var resp struct {
				Children []map[string]any `json:"children"`
			}
			readJSON(t, f, &resp)
			ns := "fp-" + name
			ensureNamespace(t, ns)
			for _, child := range resp.Children {
				child["metadata"].(map[string]any)["namespace"] = ns
			}
			assertFixedPoint(t, resp.Children)
		})
	}
}

func TestExampleChildrenFixedPoint(t *testing.T) {
	installCRD(t)
	files, err := filepath.Glob("examples/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			children := renderExample(t, f, "fp-example-"+name)
			require.NotEmpty(t, children)
			assertFixedPoint(t, children)
		})
	}
}

// assertFixedPoint creates every child for real (and deletes it at cleanup: the test cluster
// has no namespace controller, and the fixtures share Service cluster IPs), reads it back and
// reports every rendered field the stored object does not hold with the same value.
func assertFixedPoint(t *testing.T, children []map[string]any) {
	t.Helper()
	c := needCluster(t)
	for _, child := range children {
		obj := (&unstructured.Unstructured{Object: child}).DeepCopy()
		t.Run(obj.GetKind()+"/"+obj.GetName(), func(t *testing.T) {
			ctx := t.Context()
			_, err := c.client.Create(ctx, obj, false)
			require.NoError(t, err, "the API server rejects a rendered child: a renderer bug")
			t.Cleanup(func() {
				assert.NoError(t, c.client.Delete(context.Background(), obj.GroupVersionKind(), obj.GetNamespace(), obj.GetName()))
			})
			stored, err := c.client.Get(ctx, obj.GroupVersionKind(), obj.GetNamespace(), obj.GetName())
			require.NoError(t, err)
			for _, d := range fixedPointDiffs("", child, stored.Object) {
				t.Errorf("%s: %s", driver.Describe(obj), d)
			}
		})
	}
}

// fixedPointDiffs returns where Metacontroller's 3-way merge of stored (observed), rendered
// (last applied) and rendered (desired) differs from stored, as "path: rendered X, stored Y":
// every such place is a write on every sync. It follows Metacontroller's merge
// (pkg/dynamic/apply): an object takes every field of the desired object, merged into the
// observed value; a scalar, including null, is the desired value; a list whose items are all
// objects with one of the conventional keys in common is merged item by item on that key; any
// other list is replaced whole by the desired one, so it must equal the stored list exactly —
// including what the server defaults inside its items.
func fixedPointDiffs(path string, rendered, stored any) []string {
	diff := func() []string {
		return []string{fmt.Sprintf("%s: rendered %s, stored %s", pathOrRoot(path), show(rendered), show(stored))}
	}
	switch r := rendered.(type) {
	case map[string]any:
		s, ok := stored.(map[string]any)
		if !ok {
			return diff()
		}
		var out []string
		for _, k := range sortedKeys(r) {
			sv, present := s[k]
			if !present {
				out = append(out, fmt.Sprintf("%s: rendered %s, stored absent", path+"."+k, show(r[k])))
				continue
			}
			out = append(out, fixedPointDiffs(path+"."+k, r[k], sv)...)
		}
		return out
	case []any:
		s, ok := stored.([]any)
		if !ok {
			return diff()
		}
		key := listMapKey(s, r)
		if key == "" { // replaced whole
			return exactDiffs(path, r, s)
		}
		byKey := map[string]any{}
		for _, item := range s {
			byKey[fmt.Sprint(item.(map[string]any)[key])] = item
		}
		var out []string
		for _, item := range r {
			k := fmt.Sprint(item.(map[string]any)[key])
			sv, present := byKey[k]
			if !present {
				out = append(out, fmt.Sprintf("%s[%s=%s]: rendered %s, stored absent", path, key, k, show(item)))
				continue
			}
			out = append(out, fixedPointDiffs(fmt.Sprintf("%s[%s=%s]", path, key, k), item, sv)...)
		}
		return out
	default:
		if !reflect.DeepEqual(normalNumber(rendered), normalNumber(stored)) {
			return diff()
		}
		return nil
	}
}

// exactDiffs lists where rendered and stored differ, both ways: a list the merge replaces whole
// must be what the server stores, field for field.
func exactDiffs(path string, rendered, stored any) []string {
	switch r := rendered.(type) {
	case map[string]any:
		s, ok := stored.(map[string]any)
		if !ok {
			break
		}
		var out []string
		for _, k := range sortedKeys(r) {
			sv, present := s[k]
			if !present {
				out = append(out, fmt.Sprintf("%s: rendered %s, stored absent", path+"."+k, show(r[k])))
				continue
			}
			out = append(out, exactDiffs(path+"."+k, r[k], sv)...)
		}
		for _, k := range sortedKeys(s) {
			if _, present := r[k]; !present {
				out = append(out, fmt.Sprintf("%s: rendered absent, stored %s", path+"."+k, show(s[k])))
			}
		}
		return out
	case []any:
		s, ok := stored.([]any)
		if !ok || len(r) != len(s) {
			break
		}
		var out []string
		for i := range r {
			out = append(out, exactDiffs(path+"["+strconv.Itoa(i)+"]", r[i], s[i])...)
		}
		return out
	default:
		if reflect.DeepEqual(normalNumber(rendered), normalNumber(stored)) {
			return nil
		}
	}
	return []string{fmt.Sprintf("%s: rendered %s, stored %s", pathOrRoot(path), show(rendered), show(stored))}
}

// mergeKeys are the keys Metacontroller's merge guesses a list of objects is keyed by, in its
// order of precedence.
var mergeKeys = []string{"containerPort", "port", "mountPath", "name", "uid", "ip", "path"}

// listMapKey is the key every item of the lists has in common, as Metacontroller guesses it; ""
// when the lists are replaced whole.
func listMapKey(lists ...[]any) string {
	var common map[string]bool
	for _, l := range lists {
		for _, item := range l {
			obj, ok := item.(map[string]any)
			if !ok {
				return ""
			}
			if common == nil {
				common = map[string]bool{}
				for k := range obj {
					common[k] = true
				}
				continue
			}
			for k := range common {
				if _, ok := obj[k]; !ok {
					delete(common, k)
				}
			}
		}
	}
	for _, k := range mergeKeys {
		if common[k] {
			return k
		}
	}
	return ""
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func show(v any) string {
	if v == nil {
		return "null"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// normalNumber makes the JSON numbers of a rendered child (float64 when decoded from a golden,
// int64 when unstructured decoded them) comparable.
func normalNumber(v any) any {
	switch n := v.(type) {
	case int64:
		return float64(n)
	case int:
		return float64(n)
	case int32:
		return float64(n)
	}
	return v
}

func pathOrRoot(p string) string {
	if p == "" {
		return "."
	}
	return p
}

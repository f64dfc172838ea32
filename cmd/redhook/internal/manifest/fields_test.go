package manifest

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redhook/redhook/hooks"
)

// Every type reachable from a checked kind that decodes itself must be in leafTypes: otherwise a
// value of the wrong JSON type would be reported in encoding/json's words, with Go type names.
func TestLeafTypesCoverEveryCustomDecoder(t *testing.T) {
	seen := map[reflect.Type]bool{}
	var visit func(reflect.Type)
	visit = func(typ reflect.Type) {
		if seen[typ] {
			return
		}
		seen[typ] = true
		if _, ok := leafTypes[typ]; ok {
			return
		}
		if typ.Kind() != reflect.Pointer &&
			(reflect.PointerTo(typ).Implements(unmarshalerType) || reflect.PointerTo(typ).Implements(textUnmarshalerType)) {
			t.Errorf("%s decodes itself but is not in leafTypes", typ)
			return
		}
		switch typ.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
			visit(typ.Elem())
		case reflect.Struct:
			for _, ft := range jsonFields(typ) {
				visit(ft)
			}
		}
	}
	for _, k := range kinds {
		visit(k)
	}
	assert.Greater(t, len(seen), 100, "the walk reaches the corev1 types")
}

func TestCheckFields(t *testing.T) {
	for _, c := range []struct {
		name, kind, doc string
		want            string // the pruned document
		unknown         []string
		invalid         []string
	}{
		{name: "valid document unchanged", kind: hooks.Kind,
			doc:  `{"apiVersion":"databases.spotahome.com/v1","kind":"RedisFailover","metadata":{"name":"a","labels":{"x":"y"}},"spec":{"redis":{"replicas":3,"storage":{"persistentVolumeClaim":{"metadata":{"name":"data"},"spec":{"resources":{"requests":{"storage":"1Gi"}}}}}}}}`,
			want: `{"apiVersion":"databases.spotahome.com/v1","kind":"RedisFailover","metadata":{"name":"a","labels":{"x":"y"}},"spec":{"redis":{"replicas":3,"storage":{"persistentVolumeClaim":{"metadata":{"name":"data"},"spec":{"resources":{"requests":{"storage":"1Gi"}}}}}}}}`},
		{name: "unknown fields at every level are dropped", kind: hooks.Kind,
			doc:     `{"kind":"RedisFailover","Kind":"x","metadata":{"name":"a","labelz":{}},"spec":{"redis":{"Replicas":7,"initContainers":[{"name":"i","imag":"x"}]}}}`,
			want:    `{"kind":"RedisFailover","metadata":{"name":"a"},"spec":{"redis":{"initContainers":[{"name":"i"}]}}}`,
			unknown: []string{`unknown field "Kind"`, `unknown field "metadata.labelz"`, `unknown field "spec.redis.Replicas"`, `unknown field "spec.redis.initContainers[0].imag"`}},
		{name: "duplicate keys: the last wins, in the place of the first", kind: hooks.Kind,
			doc:     `{"spec":{"redis":{"replicas":4,"port":1,"replicas":2},"redis":{"replicas":5}}}`,
			want:    `{"spec":{"redis":{"replicas":5}}}`,
			unknown: []string{`duplicate field "spec.redis"`}}, // the replaced value is not looked into
		{name: "integral numbers are integers, nulls are kept", kind: hooks.Kind,
			doc:  `{"spec":{"redis":{"replicas":3.0,"terminationGracePeriod":1e3,"image":null}}}`,
			want: `{"spec":{"redis":{"replicas":3,"terminationGracePeriod":1000,"image":null}}}`},
		{name: "type errors", kind: hooks.Kind,
			doc:  `{"metadata":{"name":5,"creationTimestamp":"yesterday"},"spec":{"redis":{"replicas":4294967296,"port":-1.5,"customConfig":["a b",true,"c d"],"hostNetwork":"yes"},"sentinel":[]}}`,
			want: `{"metadata":{},"spec":{"redis":{"customConfig":["a b",null,"c d"]}}}`,
			invalid: []string{
				"metadata.name: must be of type string, not number",
				`metadata.creationTimestamp: parsing time "yesterday" as "2006-01-02T15:04:05Z07:00": cannot parse "yesterday" as "2006"`,
				"spec.redis.replicas: 4294967296 is out of range for int32",
				"spec.redis.port: must be of type integer, not number",
				"spec.redis.customConfig[1]: must be of type string, not boolean",
				"spec.redis.hostNetwork: must be of type boolean, not string",
				"spec.sentinel: must be of type object, not array",
			}},
		{name: "whole document of the wrong type", kind: hooks.Kind, doc: `[]`, want: `null`,
			invalid: []string{"<root>: must be of type object, not array"}},
		{name: "secret", kind: "Secret",
			doc:     `{"kind":"Secret","data":{"password":"cHc=","bad":"!!"},"stringdata":{"a":"b"}}`,
			want:    `{"kind":"Secret","data":{"password":"cHc="}}`,
			unknown: []string{`unknown field "stringdata"`},
			invalid: []string{"data.bad: is not base64: illegal base64 data at input byte 0"}},
		{name: "other kinds are not checked", kind: "ConfigMap", doc: `{"Kind":1}`, want: `{"Kind":1}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, err := CheckFields(c.kind, []byte(c.doc))
			require.NoError(t, err)
			assert.Equal(t, c.want, string(f.JSON))
			var unknown, invalid []string
			for _, p := range f.Unknown {
				unknown = append(unknown, p.String())
			}
			for _, e := range f.Invalid {
				invalid = append(invalid, e.Error())
			}
			assert.Equal(t, c.unknown, unknown)
			assert.Equal(t, c.invalid, invalid)
		})
	}
}

func TestFirstSyncReportsEveryTypeError(t *testing.T) {
	req, err := FirstSync([]byte(`{"kind":"RedisFailover","metadata":{"name":"a"},"spec":{"redis":{"Replicas":7,"replicas":"x","customConfig":[1]}}}`), map[string]json.RawMessage{})
	require.NoError(t, err)
	var errs hooks.FieldErrors
	require.ErrorAs(t, req.ParentError, &errs)
	assert.Equal(t, "spec.redis.replicas: must be of type integer, not string; spec.redis.customConfig[0]: must be of type string, not number", errs.Error())
	assert.Equal(t, int32(0), req.Parent.Spec.Redis.Replicas, "Replicas is an unknown field, not replicas")
	assert.Equal(t, "default", req.Parent.Namespace)
}

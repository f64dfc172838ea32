package manifest

import (
	"bytes"
	"encoding"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/redhook/redhook/hooks"
)

// The API server does not decode a custom resource into Go types: it decodes the JSON, drops
// (prunes) every field its schema does not know, checks the type of every value that remains
// against the schema, and stores the result; with strict field validation it also reports each
// unknown or duplicate field. Its schema is generated from hooks' Go types, so walking a
// document against those types with reflection tells what the API server would do, with the
// paths it would print (spec.redis.customConfig[1]) and every problem at once. Decoding into
// the Go types instead cannot: encoding/json matches keys case-insensitively, stops at the first
// type error and names Go fields (RedisSettings.parent.spec.redis.PodSettings.customConfig), and
// even sigs.k8s.io/json, which matches keys like the API server, reports its strict errors only
// when there is no type error, and type errors one at a time with Go paths.

// Fields is what the API server would make of one document.
type Fields struct {
	// JSON is the document as the API server would store it: unknown fields dropped, of
	// duplicate fields the last one kept. Values of the wrong type are dropped too, so that it
	// decodes; Invalid tells that the API server would have rejected the document instead.
	JSON []byte
	// Unknown lists the unknown and duplicate fields: warnings by default, errors with strict
	// field validation (kubectl apply --validate=strict).
	Unknown []FieldProblem
	// Invalid lists the values of the wrong type: the API server rejects the document.
	Invalid hooks.FieldErrors
}

// FieldProblem is an unknown or duplicate field, printed as kubectl prints it.
type FieldProblem struct {
	Path      string
	Duplicate bool // else unknown
}

func (p FieldProblem) String() string {
	if p.Duplicate {
		return fmt.Sprintf("duplicate field %q", p.Path)
	}
	return fmt.Sprintf("unknown field %q", p.Path)
}

// kinds are the Go types of the kinds whose fields are checked.
var kinds = map[string]reflect.Type{
	hooks.Kind: reflect.TypeFor[hooks.RedisFailover](),
	"Secret":   reflect.TypeFor[corev1.Secret](),
}

// CheckFields walks doc, a document of the given kind, against the kind's Go type. Documents of
// other kinds are returned as they are.
func CheckFields(kind string, doc []byte) (Fields, error) {
	t, ok := kinds[kind]
	if !ok {
		return Fields{JSON: doc}, nil
	}
	n, err := parse(doc)
	if err != nil {
		return Fields{}, err
	}
	var w walker
	n = w.walk(n, t, "")
	out, err := json.Marshal(n)
	if err != nil {
		return Fields{}, err
	}
	return Fields{JSON: out, Unknown: w.unknown, Invalid: w.invalid}, nil
}

// node is a parsed JSON value that keeps the members of an object in their order, so that
// problems are reported in a stable order (the order of a JSON file; YAML documents come sorted
// by key from the YAML to JSON conversion) and duplicate keys are seen.
type node struct {
	kind    string // "object", "array", "string", "number", "boolean", "null": the API server's names
	members []member
	items   []*node
	scalar  any // string, json.Number, bool or nil
}

type member struct {
	key   string
	value *node
}

func parse(doc []byte) (*node, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	n, err := parseValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err == nil {
		return nil, fmt.Errorf("more than one JSON value")
	}
	return n, nil
}

func parseValue(dec *json.Decoder) (*node, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch v := tok.(type) {
	case json.Delim:
		if v == '[' {
			n := &node{kind: "array", items: []*node{}}
			for dec.More() {
				item, err := parseValue(dec)
				if err != nil {
					return nil, err
				}
				n.items = append(n.items, item)
			}
			_, err := dec.Token()
			return n, err
		}
		n := &node{kind: "object", members: []member{}}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return nil, err
			}
			value, err := parseValue(dec)
			if err != nil {
				return nil, err
			}
			n.members = append(n.members, member{key: k.(string), value: value})
		}
		_, err := dec.Token()
		return n, err
	case string:
		return &node{kind: "string", scalar: v}, nil
	case json.Number:
		return &node{kind: "number", scalar: v}, nil
	case bool:
		return &node{kind: "boolean", scalar: v}, nil
	default:
		return &node{kind: "null"}, nil
	}
}

func (n *node) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	switch n.kind {
	case "object":
		b.WriteByte('{')
		for i, m := range n.members {
			if i > 0 {
				b.WriteByte(',')
			}
			k, _ := json.Marshal(m.key)
			v, err := m.value.MarshalJSON()
			if err != nil {
				return nil, err
			}
			b.Write(k)
			b.WriteByte(':')
			b.Write(v)
		}
		b.WriteByte('}')
	case "array":
		b.WriteByte('[')
		for i, item := range n.items {
			if i > 0 {
				b.WriteByte(',')
			}
			v, err := item.MarshalJSON()
			if err != nil {
				return nil, err
			}
			b.Write(v)
		}
		b.WriteByte(']')
	default:
		return json.Marshal(n.scalar)
	}
	return b.Bytes(), nil
}

// walker collects the problems of one document.
type walker struct {
	unknown []FieldProblem
	invalid hooks.FieldErrors
}

func (w *walker) wrongType(path string, want string, n *node) {
	w.invalid = append(w.invalid, hooks.FieldError{Path: pathOrRoot(path),
		Message: fmt.Sprintf("must be of type %s, not %s", want, n.kind)})
}

func pathOrRoot(path string) string {
	if path == "" {
		return "<root>"
	}
	return path
}

var (
	unmarshalerType     = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// leafTypes are the types with their own JSON decoding that the schema describes as a scalar;
// the API server checks the JSON type first, then the value (a quantity's format). A type with
// its own decoding that is not listed is decoded by it and any error reported as is.
var leafTypes = map[reflect.Type][]string{
	reflect.TypeFor[resource.Quantity]():   {"integer", "string"},
	reflect.TypeFor[intstr.IntOrString]():  {"integer", "string"},
	reflect.TypeFor[hooks.BootstrapPort](): {"integer", "string"},
	reflect.TypeFor[metav1.Time]():         {"string"},
	reflect.TypeFor[metav1.MicroTime]():    {"string"},
	reflect.TypeFor[metav1.Duration]():     {"string"},
	reflect.TypeFor[metav1.FieldsV1]():     {"object"},
	reflect.TypeFor[json.RawMessage]():     nil, // anything
}

// walk checks n against t at path and returns n with the unknown fields and the values of the
// wrong type removed (nil when n itself is removed).
func (w *walker) walk(n *node, t reflect.Type, path string) *node {
	if n.kind == "null" {
		return n // the API server drops a null where its schema wants no null; Go keeps the zero value
	}
	if want, ok := leafTypes[t]; ok {
		return w.leaf(n, t, path, want)
	}
	if t.Kind() != reflect.Pointer &&
		(reflect.PointerTo(t).Implements(unmarshalerType) || reflect.PointerTo(t).Implements(textUnmarshalerType)) {
		return w.leaf(n, t, path, nil)
	}
	switch t.Kind() {
	case reflect.Pointer:
		return w.walk(n, t.Elem(), path)
	case reflect.Struct:
		return w.object(n, t, path)
	case reflect.Map:
		if n.kind != "object" {
			w.wrongType(path, "object", n)
			return nil
		}
		out := &node{kind: "object", members: []member{}}
		for _, m := range w.dedupe(n.members, path) {
			if v := w.walk(m.value, t.Elem(), join(path, m.key)); v != nil {
				out.members = append(out.members, member{m.key, v})
			}
		}
		return out
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 { // []byte: base64, as for a Secret's data
			if n.kind != "string" {
				w.wrongType(path, "string", n)
				return nil
			}
			if _, err := base64.StdEncoding.DecodeString(n.scalar.(string)); err != nil {
				w.invalid = append(w.invalid, hooks.FieldError{Path: pathOrRoot(path), Message: "is not base64: " + err.Error()})
				return nil
			}
			return n
		}
		if n.kind != "array" {
			w.wrongType(path, "array", n)
			return nil
		}
		out := &node{kind: "array", items: []*node{}}
		for i, item := range n.items {
			// An item of the wrong type becomes null (the zero value), not dropped: the
			// items after it keep their indexes for the messages of hooks.Validate.
			v := w.walk(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
			if v == nil {
				v = &node{kind: "null"}
			}
			out.items = append(out.items, v)
		}
		return out
	case reflect.Interface:
		return n
	case reflect.String:
		return w.scalar(n, path, "string")
	case reflect.Bool:
		return w.scalar(n, path, "boolean")
	case reflect.Float32, reflect.Float64:
		return w.scalar(n, path, "number")
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return w.integer(n, t, path)
	}
	w.invalid = append(w.invalid, hooks.FieldError{Path: pathOrRoot(path), Message: "cannot be checked: unexpected Go type " + t.String()})
	return nil
}

func (w *walker) scalar(n *node, path, want string) *node {
	if n.kind != want {
		w.wrongType(path, want, n)
		return nil
	}
	return n
}

// integer checks that n is a whole number in the range of t. The API server takes 3.0 for 3 and
// stores 3, so n is returned as an integer.
func (w *walker) integer(n *node, t reflect.Type, path string) *node {
	if n.kind != "number" {
		w.wrongType(path, "integer", n)
		return nil
	}
	s := n.scalar.(json.Number).String()
	f, ok := new(big.Float).SetString(s)
	if !ok || !f.IsInt() {
		w.wrongType(path, "integer", n)
		return nil
	}
	i, _ := f.Int(nil)
	lo, hi := new(big.Int), new(big.Int).Lsh(big.NewInt(1), uint(t.Bits()))
	if k := t.Kind(); k < reflect.Uint || k > reflect.Uint64 { // signed
		hi.Rsh(hi, 1)
		lo.Neg(hi)
	}
	if i.Cmp(lo) < 0 || i.Cmp(hi) >= 0 {
		w.invalid = append(w.invalid, hooks.FieldError{Path: pathOrRoot(path),
			Message: fmt.Sprintf("%s is out of range for %s", s, t.Kind())})
		return nil
	}
	return &node{kind: "number", scalar: json.Number(i.String())}
}

// leaf checks a value that t decodes itself: its JSON type is one of want (when known), then t
// must accept it.
func (w *walker) leaf(n *node, t reflect.Type, path string, want []string) *node {
	if len(want) > 0 {
		ok := false
		for _, k := range want {
			ok = ok || k == n.kind || k == "integer" && n.kind == "number"
		}
		if !ok {
			w.wrongType(path, strings.Join(want, " or "), n)
			return nil
		}
	}
	raw, err := n.MarshalJSON()
	if err == nil {
		err = json.Unmarshal(raw, reflect.New(t).Interface())
	}
	if err != nil {
		w.invalid = append(w.invalid, hooks.FieldError{Path: pathOrRoot(path), Message: strings.TrimPrefix(err.Error(), "json: ")})
		return nil
	}
	return n
}

// object checks n against the struct t.
func (w *walker) object(n *node, t reflect.Type, path string) *node {
	if n.kind != "object" {
		w.wrongType(path, "object", n)
		return nil
	}
	fields := jsonFields(t)
	out := &node{kind: "object", members: []member{}}
	for _, m := range w.dedupe(n.members, path) {
		ft, ok := fields[m.key]
		if !ok {
			w.unknown = append(w.unknown, FieldProblem{Path: join(path, m.key)})
			continue
		}
		if v := w.walk(m.value, ft, join(path, m.key)); v != nil {
			out.members = append(out.members, member{m.key, v})
		}
	}
	return out
}

// dedupe reports the keys that appear more than once and keeps the last value of each, as the
// API server does, in the place of the first. Only the kept value is walked further.
func (w *walker) dedupe(members []member, path string) []member {
	at := map[string]int{}
	var out []member
	for _, m := range members {
		if i, seen := at[m.key]; seen {
			w.unknown = append(w.unknown, FieldProblem{Path: join(path, m.key), Duplicate: true})
			out[i].value = m.value
			continue
		}
		at[m.key] = len(out)
		out = append(out, m)
	}
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

var fieldCache sync.Map // reflect.Type → map[string]reflect.Type

// jsonFields maps the JSON names of t's fields to their types, as encoding/json sees them:
// fields of embedded structs without a JSON name (",inline") are promoted, and a field of the
// outer struct hides one of the same name further in.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	if f, ok := fieldCache.Load(t); ok {
		return f.(map[string]reflect.Type)
	}
	fields := map[string]reflect.Type{}
	var embedded []reflect.Type
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				embedded = append(embedded, ft)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = f.Type
	}
	for _, e := range embedded {
		for name, ft := range jsonFields(e) {
			if _, hidden := fields[name]; !hidden {
				fields[name] = ft
			}
		}
	}
	fieldCache.Store(t, fields)
	return fields
}

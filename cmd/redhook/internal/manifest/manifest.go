// Package manifest reads the files a user hands to redhook (RedisFailovers and their auth
// Secrets, as YAML or JSON streams) and turns them into the sync request Metacontroller would
// send on a first sync. `redhook render` and `redhook local` share it.
package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"

	"github.com/redhook/redhook/hooks"
)

// Document is one YAML document of an input file, as JSON.
type Document struct {
	Source    string // file and document number, for error messages
	Kind      string
	Namespace string // "default" when not set, as kubectl apply without -n
	Name      string
	JSON      []byte
}

// Read returns the documents of the file at path; "-" reads stdin.
func Read(path string, stdin io.Reader) ([]Document, error) {
	r := stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	if r == nil {
		return nil, fmt.Errorf("%s: no standard input", path)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(r, 4096)
	var out []Document
	for i := 1; ; i++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); errors.Is(err, io.EOF) {
			return out, nil
		} else if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", path, i, err)
		}
		if len(bytes.TrimSpace(raw)) == 0 || string(raw) == "null" {
			continue
		}
		var head struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Namespace string `json:"namespace"`
				Name      string `json:"name"`
			} `json:"metadata"`
		}
		// Case-sensitive, as the API server reads keys: "Kind" is not "kind". A metadata field
		// of the wrong type is reported with its path by CheckFields.
		if err := kjson.UnmarshalCaseSensitivePreserveInts(raw, &head); err != nil && head.Kind == "" {
			return nil, fmt.Errorf("%s: document %d: %w", path, i, err)
		}
		ns := head.Metadata.Namespace
		if ns == "" {
			ns = "default"
		}
		out = append(out, Document{Source: fmt.Sprintf("%s: document %d", path, i), Kind: head.Kind,
			Namespace: ns, Name: head.Metadata.Name, JSON: raw})
	}
}

// Unique returns an error naming both documents when two of docs have the same kind,
// namespace and name: applied, the second would replace the first.
func Unique(docs []Document) error {
	seen := map[[3]string]Document{}
	for _, d := range docs {
		if d.Kind == "" || d.Name == "" {
			continue
		}
		key := [3]string{d.Kind, d.Namespace, d.Name}
		if first, dup := seen[key]; dup {
			return fmt.Errorf("%s: %s %s/%s: same kind, namespace and name as %s (applied, the second would replace the first)",
				d.Source, d.Kind, d.Namespace, d.Name, first.Source)
		}
		seen[key] = d
	}
	return nil
}

// FirstSync builds the sync request Metacontroller would send on the first sync: the parent, no
// children yet, and the Secrets of the parent's namespace as related objects. The parent is
// what the API server would store (see CheckFields): unknown fields dropped; when a value has
// the wrong type ParentError is every such value as hooks.FieldErrors.
func FirstSync(parent []byte, secrets map[string]json.RawMessage) (*hooks.SyncRequest, error) {
	fields, err := CheckFields(hooks.Kind, parent)
	if err != nil {
		return nil, err
	}
	var p map[string]any
	if err := kjson.UnmarshalCaseSensitivePreserveInts(fields.JSON, &p); err != nil {
		return nil, err
	}
	meta, _ := p["metadata"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		p["metadata"] = meta
	}
	if ns, _ := meta["namespace"].(string); ns == "" {
		meta["namespace"] = "default" // what kubectl apply would use without -n
	}
	related := hooks.Objects{hooks.KeyPod: {}, hooks.KeySecret: secrets}
	body, err := json.Marshal(map[string]any{"parent": p, "children": hooks.Objects{}, "related": related})
	if err != nil {
		return nil, err
	}
	req, err := hooks.DecodeSyncRequest(body)
	if err != nil {
		return nil, err
	}
	if len(fields.Invalid) > 0 {
		req.ParentError = fields.Invalid
	}
	return &req, nil
}

// NormalizeSecret turns stringData into data, as the API server does, and returns the Secret's
// namespace/name. Unknown fields are dropped, as the API server does; a value of the wrong type
// is an error (hooks.FieldErrors), as the API server would reject the Secret.
func NormalizeSecret(raw []byte) (json.RawMessage, string, error) {
	fields, err := CheckFields("Secret", raw)
	if err != nil {
		return nil, "", err
	}
	if len(fields.Invalid) > 0 {
		return nil, "", fields.Invalid
	}
	var s struct {
		Metadata   map[string]any    `json:"metadata"`
		Data       map[string][]byte `json:"data"`
		StringData map[string]string `json:"stringData"`
	}
	if err := kjson.UnmarshalCaseSensitivePreserveInts(fields.JSON, &s); err != nil {
		return nil, "", err
	}
	name, _ := s.Metadata["name"].(string)
	ns, _ := s.Metadata["namespace"].(string)
	if ns == "" {
		ns = "default"
	}
	if s.Data == nil {
		s.Data = map[string][]byte{}
	}
	for k, v := range s.StringData {
		s.Data[k] = []byte(v)
	}
	b, err := json.Marshal(map[string]any{"metadata": map[string]any{"name": name, "namespace": ns}, "data": s.Data})
	return b, ns + "/" + name, err
}

// SecretKeys returns the keys of a Secret's data, sorted; never the values.
func SecretKeys(secret json.RawMessage) []string {
	var s struct {
		Data map[string]json.RawMessage `json:"data"`
	}
	_ = kjson.UnmarshalCaseSensitivePreserveInts(secret, &s)
	keys := make([]string, 0, len(s.Data))
	for k := range s.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

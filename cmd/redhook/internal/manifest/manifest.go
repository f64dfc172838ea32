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

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/redhook/redhook/hooks"
)

// Document is one YAML document of an input file, as JSON.
type Document struct {
	Source string // file and document number, for error messages
	Kind   string
	JSON   []byte
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
			Kind string `json:"kind"`
		}
		if err := json.Unmarshal(raw, &head); err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", path, i, err)
		}
		out = append(out, Document{Source: fmt.Sprintf("%s: document %d", path, i), Kind: head.Kind, JSON: raw})
	}
}

// FirstSync builds the sync request Metacontroller would send on the first sync: the parent, no
// children yet, and the Secrets of the parent's namespace as related objects.
func FirstSync(parent []byte, secrets map[string]json.RawMessage) (*hooks.SyncRequest, error) {
	var p map[string]any
	if err := json.Unmarshal(parent, &p); err != nil {
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
	return &req, nil
}

// NormalizeSecret turns stringData into data, as the API server does, and returns the Secret's
// namespace/name.
func NormalizeSecret(raw []byte) (json.RawMessage, string, error) {
	var s struct {
		Metadata   map[string]any    `json:"metadata"`
		Data       map[string][]byte `json:"data"`
		StringData map[string]string `json:"stringData"`
	}
	if err := json.Unmarshal(raw, &s); err != nil {
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

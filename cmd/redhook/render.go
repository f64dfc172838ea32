package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/redhook/redhook/hooks"
)

// fileList is a repeatable -f flag.
type fileList []string

func (f *fileList) String() string     { return strings.Join(*f, ",") }
func (f *fileList) Set(v string) error { *f = append(*f, v); return nil }

// render prints, as a YAML stream, the children every RedisFailover in the files would get on
// its first sync: what Metacontroller would apply. Secrets in the files are used as the auth
// Secrets. Exits 1 with the field errors when a spec is invalid.
func render(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("redhook render", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var files fileList
	fs.Var(&files, "f", "file with RedisFailover and Secret documents (repeatable; - for stdin)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if len(files) == 0 {
		fmt.Fprintln(stderr, "redhook render: -f FILE is required")
		return 2
	}
	var docs []document
	for _, f := range files {
		d, err := readDocuments(f, stdin)
		if err != nil {
			fmt.Fprintln(stderr, "redhook render:", err)
			return 1
		}
		docs = append(docs, d...)
	}
	out, err := renderDocuments(docs)
	if err != nil {
		fmt.Fprintln(stderr, "redhook render:", err)
		return 1
	}
	if _, err := stdout.Write(out); err != nil {
		fmt.Fprintln(stderr, "redhook render:", err)
		return 1
	}
	return 0
}

// document is one YAML document of an input file, as JSON.
type document struct {
	source string
	kind   string
	json   []byte
}

func readDocuments(path string, stdin io.Reader) ([]document, error) {
	var r io.Reader = stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(r, 4096)
	var out []document
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
		out = append(out, document{source: fmt.Sprintf("%s: document %d", path, i), kind: head.Kind, json: raw})
	}
}

// renderDocuments renders every RedisFailover among docs with the Secrets among them as related
// objects.
func renderDocuments(docs []document) ([]byte, error) {
	secrets := map[string]json.RawMessage{}
	for _, d := range docs {
		if d.kind == "Secret" {
			secret, key, err := normalizeSecret(d.json)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", d.source, err)
			}
			secrets[key] = secret
		}
	}
	var out bytes.Buffer
	found := false
	for _, d := range docs {
		if d.kind != hooks.Kind {
			continue
		}
		found = true
		children, err := renderOne(d, secrets)
		if err != nil {
			return nil, err
		}
		out.Write(children)
	}
	if !found {
		return nil, errors.New("no RedisFailover in the input")
	}
	return out.Bytes(), nil
}

func renderOne(d document, secrets map[string]json.RawMessage) ([]byte, error) {
	req, err := requestFor(d.json, secrets)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.source, err)
	}
	rf := &req.Parent
	what := fmt.Sprintf("%s: RedisFailover %s/%s", d.source, rf.Namespace, rf.Name)
	if req.ParentError != nil {
		return nil, fmt.Errorf("%s: %w", what, req.ParentError)
	}
	if errs := hooks.Validate(rf); len(errs) > 0 {
		lines := make([]string, len(errs))
		for i, e := range errs {
			lines[i] = "  " + e.Error()
		}
		return nil, fmt.Errorf("%s is invalid:\n%s", what, strings.Join(lines, "\n"))
	}
	if _, ok := hooks.NewTopology(req); !ok {
		return nil, fmt.Errorf("%s: spec.auth.secretPath names Secret %q: add it to the input (a Secret with key \"password\")",
			what, rf.Spec.Auth.SecretPath)
	}
	resp := hooks.Sync(req, hooks.HealerReport{})
	var out bytes.Buffer
	for _, c := range resp.Children {
		b, err := json.Marshal(c)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		y, err := yaml.JSONToYAML(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out.WriteString("---\n")
		out.Write(y)
	}
	return out.Bytes(), nil
}

// requestFor builds the sync request Metacontroller would send on the first sync: the parent, no
// children yet, and the Secrets of the parent's namespace as related objects.
func requestFor(parent []byte, secrets map[string]json.RawMessage) (*hooks.SyncRequest, error) {
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

// normalizeSecret turns stringData into data, as the API server does, and returns the Secret's
// namespace/name.
func normalizeSecret(raw []byte) (json.RawMessage, string, error) {
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

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/redhook/redhook/cmd/redhook/internal/manifest"
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
	var docs []manifest.Document
	for _, f := range files {
		d, err := manifest.Read(f, stdin)
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

// renderDocuments renders every RedisFailover among docs with the Secrets among them as related
// objects.
func renderDocuments(docs []manifest.Document) ([]byte, error) {
	secrets := map[string]json.RawMessage{}
	for _, d := range docs {
		if d.Kind == "Secret" {
			secret, key, err := manifest.NormalizeSecret(d.JSON)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", d.Source, err)
			}
			secrets[key] = secret
		}
	}
	var out bytes.Buffer
	found := false
	for _, d := range docs {
		if d.Kind != hooks.Kind {
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

func renderOne(d manifest.Document, secrets map[string]json.RawMessage) ([]byte, error) {
	req, err := manifest.FirstSync(d.JSON, secrets)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.Source, err)
	}
	rf := &req.Parent
	what := fmt.Sprintf("%s: RedisFailover %s/%s", d.Source, rf.Namespace, rf.Name)
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

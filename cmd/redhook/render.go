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
// Secrets. Documents are read as the API server reads them: keys match case-sensitively and
// unknown fields are dropped with a warning on stderr (an error with --strict). Exits 1 with the
// field errors when a spec is invalid.
func render(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("redhook render", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var files fileList
	fs.Var(&files, "f", "file with RedisFailover and Secret documents (repeatable; - for stdin)")
	strict := fs.Bool("strict", false, "fail on unknown and duplicate fields, as kubectl apply does by default (--validate=strict);\n"+
		"without it they are warnings and unknown fields are dropped, as the API server does by default")
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
	out, err := renderDocuments(docs, *strict, stderr)
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
// objects. Unknown and duplicate fields are written to warnings, or are an error when strict.
func renderDocuments(docs []manifest.Document, strict bool, warnings io.Writer) ([]byte, error) {
	if err := manifest.Unique(docs); err != nil {
		return nil, err
	}
	for _, d := range docs {
		if err := checkFields(d, strict, warnings); err != nil {
			return nil, err
		}
	}
	secrets := map[string]json.RawMessage{}
	for _, d := range docs {
		if d.Kind == "Secret" {
			secret, key, err := manifest.NormalizeSecret(d.JSON)
			var invalid hooks.FieldErrors
			if errors.As(err, &invalid) {
				return nil, invalidError(fmt.Sprintf("%s: Secret %s/%s", d.Source, d.Namespace, d.Name), invalid)
			}
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
	// Values of the wrong type (the API server would reject the object) come first, then what
	// hooks.Validate finds in the rest; a path is reported once.
	var errs hooks.FieldErrors
	if req.ParentError != nil && !errors.As(req.ParentError, &errs) {
		return nil, fmt.Errorf("%s: %w", what, req.ParentError)
	}
	typed := map[string]bool{}
	for _, e := range errs {
		typed[e.Path] = true
	}
	for _, e := range hooks.Validate(rf) {
		if !typed[e.Path] {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		return nil, invalidError(what, errs)
	}
	if _, ok := hooks.NewTopology(req); !ok {
		return nil, secretError(what, rf, secrets)
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

// checkFields reports the unknown and duplicate fields of d: warnings, or an error when strict.
func checkFields(d manifest.Document, strict bool, warnings io.Writer) error {
	fields, err := manifest.CheckFields(d.Kind, d.JSON)
	if err != nil {
		return fmt.Errorf("%s: %w", d.Source, err)
	}
	what := fmt.Sprintf("%s: %s %s/%s", d.Source, d.Kind, d.Namespace, d.Name)
	if strict && len(fields.Unknown) > 0 {
		lines := make([]string, len(fields.Unknown))
		for i, p := range fields.Unknown {
			lines[i] = "  " + p.String()
		}
		return fmt.Errorf("%s is rejected by strict field validation (--strict):\n%s", what, strings.Join(lines, "\n"))
	}
	for _, p := range fields.Unknown {
		fmt.Fprintf(warnings, "warning: %s: %s\n", what, p)
	}
	return nil
}

// invalidError lists every field error of an object, one a line.
func invalidError(what string, errs hooks.FieldErrors) error {
	lines := make([]string, len(errs))
	for i, e := range errs {
		lines[i] = "  " + e.Error()
	}
	return fmt.Errorf("%s is invalid:\n%s", what, strings.Join(lines, "\n"))
}

// secretError tells why the auth Secret cannot be used: it is not in the input, or it is and has
// no usable password (its keys are named, never its values).
func secretError(what string, rf *hooks.RedisFailover, secrets map[string]json.RawMessage) error {
	name := rf.Spec.Auth.SecretPath
	secret, found := secrets[rf.Namespace+"/"+name]
	if !found {
		return fmt.Errorf("%s: spec.auth.secretPath names Secret %q: add it to the input (a Secret with key \"password\")",
			what, name)
	}
	keys := manifest.SecretKeys(secret)
	has := "it has no keys"
	if len(keys) > 0 {
		has = fmt.Sprintf("its keys: %s", strings.Join(keys, ", "))
	}
	for _, k := range keys {
		if k == "password" {
			return fmt.Errorf("%s: spec.auth.secretPath names Secret %s/%s: found in the input, but its \"password\" key is empty",
				what, rf.Namespace, name)
		}
	}
	return fmt.Errorf("%s: spec.auth.secretPath names Secret %s/%s: found in the input, but it has no \"password\" key (%s)",
		what, rf.Namespace, name, has)
}

package local

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/redhook/redhook/cmd/redhook/internal/manifest"
	"github.com/redhook/redhook/hooks"
)

// input is what the -f files (and --password-file) hold: the RedisFailover, as the API server
// would store it and validated, and the Secrets of its namespace.
type input struct {
	parent   hooks.RedisFailover
	source   string // the file and document of the RedisFailover, for messages
	secrets  map[string]json.RawMessage
	password string
}

// readInput reads and validates the -f files.
func (c *Cluster) readInput() (*input, error) {
	docs, err := c.readDocs()
	if err != nil {
		return nil, err
	}
	in := &input{secrets: map[string]json.RawMessage{}}
	var parents []manifest.Document
	for _, d := range docs {
		switch d.Kind {
		case hooks.Kind:
			parents = append(parents, d)
		case "Secret":
			s, key, err := manifest.NormalizeSecret(d.JSON)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", d.Source, err)
			}
			in.secrets[key] = s
		}
	}
	if len(parents) != 1 {
		return nil, fmt.Errorf("want exactly one RedisFailover in the input, found %d", len(parents))
	}
	in.source = parents[0].Source
	req, err := manifest.FirstSync(parents[0].JSON, in.secrets)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", in.source, err)
	}
	in.parent = req.Parent
	in.parent.UID = "local"
	in.parent.Generation = 1
	// Both kinds of problem name the field at fault: a value of the wrong type (ParentError) and
	// a value hooks.Validate refuses.
	var problems []error
	if req.ParentError != nil {
		problems = append(problems, req.ParentError)
	}
	if errs := hooks.Validate(&in.parent); len(errs) > 0 {
		problems = append(problems, errs)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%s: invalid RedisFailover: %w", in.source, errors.Join(problems...))
	}
	if err := in.addPasswordFile(c.cfg.PasswordFile); err != nil {
		return nil, err
	}
	return in, nil
}

// readDocs reads every -f file. Standard input ("-") can be read only once: later reads reuse
// the documents of the first.
func (c *Cluster) readDocs() ([]manifest.Document, error) {
	var docs []manifest.Document
	for _, f := range c.cfg.Files {
		if f == "-" && c.stdinDocs != nil {
			docs = append(docs, c.stdinDocs...)
			continue
		}
		d, err := manifest.Read(f, c.cfg.Stdin)
		if err != nil {
			return nil, err
		}
		if f == "-" {
			c.stdinDocs = append([]manifest.Document{}, d...)
		}
		docs = append(docs, d...)
	}
	return docs, nil
}

// sumFiles is a checksum of the -f files' contents (standard input excluded: it cannot change).
// A file that cannot be read counts by its error, so that its coming back is a change too.
func (c *Cluster) sumFiles() [sha256.Size]byte { return sumFiles(c.cfg.Files) }

// sumFiles is a checksum of the contents of files, "-" excluded (see Cluster.sumFiles).
func sumFiles(files []string) [sha256.Size]byte {
	h := sha256.New()
	for _, f := range files {
		if f == "-" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			b = []byte("\x00error: " + err.Error())
		}
		fmt.Fprintf(h, "%s\x00%d\x00", f, len(b))
		h.Write(b)
	}
	var sum [sha256.Size]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

// addPasswordFile turns --password-file into the auth Secret the spec names, and reads the
// password from the auth Secret.
func (in *input) addPasswordFile(path string) error {
	pw, err := authPassword(in.secrets, in.parent.Namespace, in.parent.Spec.Auth.SecretPath, path, "RedisFailover")
	in.password = pw
	return err
}

// authPassword is the password of the auth Secret name (spec.auth.secretPath) in namespace ns,
// from secrets (the file's Secrets by namespace/name), after --password-file (path, "" when not
// given) has been added there as that Secret; "" without auth. kind names the parent in errors.
func authPassword(secrets map[string]json.RawMessage, ns, name, path, kind string) (string, error) {
	if path != "" {
		if name == "" {
			return "", fmt.Errorf("--password-file given, but the %s sets no spec.auth.secretPath", kind)
		}
		pw, err := readPasswordFile(path)
		if err != nil {
			return "", err
		}
		b, err := json.Marshal(map[string]any{"metadata": map[string]string{"name": name, "namespace": ns},
			"data": map[string][]byte{"password": []byte(pw)}})
		if err != nil {
			return "", err
		}
		secrets[ns+"/"+name] = b
	}
	if name == "" {
		return "", nil
	}
	raw, ok := secrets[ns+"/"+name]
	if !ok {
		return "", fmt.Errorf("spec.auth.secretPath names Secret %q: add it to the file or pass --password-file", name)
	}
	var s struct {
		Data map[string][]byte `json:"data"`
	}
	if err := json.Unmarshal(raw, &s); err != nil || len(s.Data["password"]) == 0 {
		return "", fmt.Errorf("auth secret %q has no key \"password\"", name)
	}
	return string(s.Data["password"]), nil
}

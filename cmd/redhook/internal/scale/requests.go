package scale

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Requests are built from one recorded sync request: each RedisFailover gets its own namespace
// (so its own parent key) and its own pod addresses, unused loopback addresses, so that the
// healer of the server under test tracks every one and finds no process behind them.

// requestCases maps the --req names to the recorded requests under hooks/testdata/sync.
var requestCases = map[string]string{
	"children": "master-known", // 3 redis + 3 sentinels, every child observed (54 KB)
	"minimal":  "minimal",      // no children, no pods
}

// loadTemplate reads the recorded request named by kind, compacted as Metacontroller sends it.
func loadTemplate(testdata, kind string) ([]byte, error) {
	name, ok := requestCases[kind]
	if !ok {
		return nil, fmt.Errorf("--req %q: want children or minimal", kind)
	}
	raw, err := os.ReadFile(filepath.Join(testdata, name, "request.json"))
	if err != nil {
		return nil, fmt.Errorf("--testdata: %w", err)
	}
	var out bytes.Buffer
	if err := json.Compact(&out, raw); err != nil {
		return nil, fmt.Errorf("request %s: %w", name, err)
	}
	return out.Bytes(), nil
}

// template is what buildRequests rewrites in the recorded request.
type template struct {
	body      []byte
	namespace string
	podIPs    []string // in the order of first appearance
}

// parseTemplate finds the parent's namespace and the pod addresses of a recorded request.
func parseTemplate(body []byte) (template, error) {
	var req struct {
		Parent struct {
			Metadata struct {
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		} `json:"parent"`
		Related map[string]map[string]struct {
			Status struct {
				PodIP string `json:"podIP"`
			} `json:"status"`
		} `json:"related"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return template{}, fmt.Errorf("recorded request: %w", err)
	}
	t := template{body: body, namespace: req.Parent.Metadata.Namespace}
	if t.namespace == "" {
		return template{}, fmt.Errorf("recorded request: parent.metadata.namespace is empty")
	}
	seen := map[string]bool{}
	for _, pod := range req.Related["Pod.v1"] {
		if ip := pod.Status.PodIP; ip != "" && !seen[ip] {
			seen[ip] = true
			t.podIPs = append(t.podIPs, ip)
		}
	}
	return t, nil
}

// buildRequests returns n requests: request i has namespace scale-i and the pod addresses
// 127.(20+j).(i/250).(i%250+1) for its j-th pod, which no test process uses.
func buildRequests(t template, n int) ([][]byte, error) {
	if len(t.podIPs) > 100 {
		return nil, fmt.Errorf("recorded request has %d pod addresses, at most 100", len(t.podIPs))
	}
	if n > 250*256 {
		return nil, fmt.Errorf("--n %d: at most %d", n, 250*256)
	}
	out := make([][]byte, n)
	for i := range out {
		b := t.body
		ns := fmt.Sprintf("scale-%05d", i)
		b = bytes.ReplaceAll(b, quoted(t.namespace), quoted(ns))
		b = bytes.ReplaceAll(b, []byte(`"`+t.namespace+`/`), []byte(`"`+ns+`/`))
		for j, ip := range t.podIPs {
			b = bytes.ReplaceAll(b, quoted(ip), quoted(fmt.Sprintf("127.%d.%d.%d", 20+j, i/250, i%250+1)))
		}
		out[i] = b
	}
	return out, nil
}

func quoted(s string) []byte { return []byte(`"` + s + `"`) }

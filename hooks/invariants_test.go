package hooks

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
)

// Invariants that hold for every golden case, whatever its scenario.

// genericChild is a response child decoded without knowing its kind.
type genericChild struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		Selector json.RawMessage `json:"selector"`
		Template struct {
			Metadata struct {
				Labels map[string]string `json:"labels"`
			} `json:"metadata"`
		} `json:"template"`
	} `json:"spec"`
	raw []byte
}

// selector returns the child's label selector: spec.selector.matchLabels for workloads and
// PDBs, spec.selector for Services.
func (c genericChild) selector(t *testing.T) map[string]string {
	if len(c.Spec.Selector) == 0 {
		return nil
	}
	var ls struct {
		MatchLabels map[string]string `json:"matchLabels"`
	}
	if c.Kind == "Service" {
		var m map[string]string
		require.NoError(t, json.Unmarshal(c.Spec.Selector, &m))
		return m
	}
	require.NoError(t, json.Unmarshal(c.Spec.Selector, &ls))
	return ls.MatchLabels
}

func responseChildren(t *testing.T, resp SyncResponse) []genericChild {
	return decodeChildren(t, resp.Children)
}

// decodeChildren decodes the children of a response of either kind.
func decodeChildren(t *testing.T, children []any) []genericChild {
	t.Helper()
	var out []genericChild
	for _, c := range children {
		b, err := json.Marshal(c)
		require.NoError(t, err)
		var g genericChild
		require.NoError(t, json.Unmarshal(b, &g))
		g.raw = b
		out = append(out, g)
	}
	return out
}

func selects(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func TestGoldenInvariants(t *testing.T) {
	for _, c := range loadGoldenCases(t) {
		t.Run(c.name, func(t *testing.T) {
			resp := Sync(&c.req, c.obs)
			children := responseChildren(t, resp)
			assertChildInvariants(t, children, false)
			assertPasswordOnlyInSecrets(t, c.req.Related, resp.Status, children)
		})
	}
}

// The same invariants for every RedisCluster golden case, but that a RedisCluster's Services
// select the pods of every shard (each shard's PodDisruptionBudget those of its own only).
func TestClusterGoldenInvariants(t *testing.T) {
	for _, c := range loadClusterCases(t) {
		t.Run(c.name, func(t *testing.T) {
			resp := SyncCluster(&c.req, c.obs)
			children := decodeChildren(t, resp.Children)
			assertChildInvariants(t, children, true)
			assertPasswordOnlyInSecrets(t, c.req.Related, resp.Status, children)
		})
	}
}

// assertChildInvariants: every child has an apiVersion, a kind and a name of at most 63
// characters; every workload's selector selects its template; every PodDisruptionBudget selects
// the pods of exactly one workload, and every Service too, or of every workload when
// servicesSelectAll; no pod is one the kubelet refuses to start for its user.
func assertChildInvariants(t *testing.T, children []genericChild, servicesSelectAll bool) {
	t.Helper()
	var templates []map[string]string
	for _, ch := range children {
		assert.NotEmpty(t, ch.APIVersion, "apiVersion of %s", ch.Metadata.Name)
		assert.NotEmpty(t, ch.Kind, "kind of %s", ch.Metadata.Name)
		assert.NotEmpty(t, ch.Metadata.Name, "name of a %s", ch.Kind)
		assert.LessOrEqual(t, len(ch.Metadata.Name), 63, "%s %s", ch.Kind, ch.Metadata.Name)
		if ch.Kind == "StatefulSet" || ch.Kind == "Deployment" {
			sel := ch.selector(t)
			require.NotEmpty(t, sel, "%s %s has no selector", ch.Kind, ch.Metadata.Name)
			assert.True(t, selects(sel, ch.Spec.Template.Metadata.Labels),
				"%s %s: selector %v does not select its template labels %v", ch.Kind, ch.Metadata.Name,
				sel, ch.Spec.Template.Metadata.Labels)
			templates = append(templates, ch.Spec.Template.Metadata.Labels)
		}
	}
	// Every Service or PDB selector selects the pods of exactly one rendered workload (a
	// RedisCluster's Services: of every one).
	for _, ch := range children {
		sel := ch.selector(t)
		if (ch.Kind != "Service" && ch.Kind != "PodDisruptionBudget") || len(sel) == 0 || len(templates) == 0 {
			continue
		}
		n := 0
		for _, labels := range templates {
			if selects(sel, labels) {
				n++
			}
		}
		want := 1
		if servicesSelectAll && ch.Kind == "Service" {
			want = len(templates)
		}
		assert.Equal(t, want, n, "%s %s selector %v matches %d workloads", ch.Kind, ch.Metadata.Name, sel, n)
	}
	for _, ch := range children {
		if ch.Kind == "StatefulSet" || ch.Kind == "Deployment" {
			var w struct {
				Spec struct {
					Template struct {
						Spec corev1.PodSpec `json:"spec"`
					} `json:"template"`
				} `json:"spec"`
			}
			require.NoError(t, json.Unmarshal(ch.raw, &w))
			assertStartable(t, ch.Kind+" "+ch.Metadata.Name, &w.Spec.Template.Spec)
		}
	}
}

// assertStartable: no container of the pod is one the kubelet refuses to start for its user —
// runAsNonRoot without a user (the redis image has no USER, so it would run as root) or with
// user 0.
func assertStartable(t *testing.T, what string, pod *corev1.PodSpec) {
	t.Helper()
	for _, c := range append(append([]corev1.Container(nil), pod.InitContainers...), pod.Containers...) {
		var nonRoot *bool
		var user *int64
		if psc := pod.SecurityContext; psc != nil {
			nonRoot, user = psc.RunAsNonRoot, psc.RunAsUser
		}
		if sc := c.SecurityContext; sc != nil {
			if sc.RunAsNonRoot != nil {
				nonRoot = sc.RunAsNonRoot
			}
			if sc.RunAsUser != nil {
				user = sc.RunAsUser
			}
		}
		if nonRoot != nil && *nonRoot {
			if assert.NotNil(t, user, "%s: container %s must run as non-root but names no user", what, c.Name) {
				assert.NotZero(t, *user, "%s: container %s must run as non-root but runs as user 0", what, c.Name)
			}
		}
	}
}

// assertPasswordOnlyInSecrets: the password of the request's auth Secret (in related) appears, in
// clear or base64, in no child but a Secret, and never in the status.
func assertPasswordOnlyInSecrets(t *testing.T, related Objects, status any, children []genericChild) {
	t.Helper()
	for _, raw := range related[KeySecret] {
		var s struct {
			Data map[string][]byte `json:"data"`
		}
		require.NoError(t, json.Unmarshal(raw, &s))
		if v := s.Data[authPasswordKey]; len(v) > 0 {
			pw := string(v)
			forms := []string{pw, base64.StdEncoding.EncodeToString(v), quoteConfig(pw)}
			for _, ch := range children {
				if ch.Kind == "Secret" {
					continue
				}
				for _, f := range forms {
					assert.NotContains(t, string(ch.raw), f, "%s %s contains the password", ch.Kind, ch.Metadata.Name)
				}
			}
			b, err := json.Marshal(status)
			require.NoError(t, err)
			assert.NotContains(t, string(b), pw, "status contains the password")
		}
	}
}

// TestHoldKeepsEveryChild: with an invalid spec, a missing Secret or an unknown healer report,
// every observed child is in the response exactly as it was last applied.
func TestHoldKeepsEveryChild(t *testing.T) {
	held := 0
	for _, c := range loadGoldenCases(t) {
		resp := Sync(&c.req, c.obs)
		if !mustHold(&c.req, c.obs) {
			continue
		}
		held++
		t.Run(c.name, func(t *testing.T) { assertHeld(t, c.req.Children, resp.Children) })
	}
	assert.GreaterOrEqual(t, held, 5, "too few golden cases exercise holding")
}

// TestClusterHoldKeepsEveryChild: the same for SyncCluster, and a shard that a scale-in removes
// is kept exactly as observed until the healer releases it.
func TestClusterHoldKeepsEveryChild(t *testing.T) {
	held := 0
	for _, c := range loadClusterCases(t) {
		resp := SyncCluster(&c.req, c.obs)
		if !mustHoldCluster(&c.req, c.obs) {
			continue
		}
		held++
		t.Run(c.name, func(t *testing.T) { assertHeld(t, c.req.Children, resp.Children) })
	}
	assert.GreaterOrEqual(t, held, 3, "too few cluster golden cases exercise holding")
}

func mustHoldCluster(req *ClusterSyncRequest, obs ClusterReport) bool {
	if req.ParentError != nil || len(ValidateCluster(&req.Parent)) > 0 || !obs.Known() {
		return true
	}
	_, problem := secretPassword(req.Related, req.Parent.Namespace, req.Parent.Spec.Auth.SecretPath)
	return problem != ""
}

// mustHold tells whether Sync may not change or delete any observed child.
func mustHold(req *SyncRequest, obs HealerReport) bool {
	if req.ParentError != nil || len(Validate(&req.Parent)) > 0 || !obs.Known() {
		return true
	}
	_, problem := authPassword(req.Parent.WithDefaults(), req.Related)
	return problem != ""
}

// assertHeld: every observed child is among the response's children as it was last applied.
func assertHeld(t *testing.T, observed Objects, children []any) {
	t.Helper()
	got := map[string]string{}
	for _, ch := range decodeChildren(t, children) {
		got[ch.Kind+"/"+ch.Metadata.Name] = string(ch.raw)
	}
	for key, objs := range observed {
		kind, _, _ := strings.Cut(key, ".")
		for nsName, raw := range objs {
			name := nsName[strings.IndexByte(nsName, '/')+1:]
			want, err := json.Marshal(asLastApplied(raw))
			require.NoError(t, err)
			if assert.Contains(t, got, kind+"/"+name, "observed child dropped") {
				assert.JSONEq(t, string(want), got[kind+"/"+name], "%s/%s changed", kind, name)
			}
		}
	}
}

// FuzzSync: Sync never panics on a decodable request, and holding keeps every child.
func FuzzSync(f *testing.F) {
	for _, c := range loadGoldenCases(f) {
		f.Add(c.raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		req, err := DecodeSyncRequest(raw)
		if err != nil {
			return
		}
		resp := Sync(&req, HealerReport{})
		if _, err := json.Marshal(resp); err != nil {
			t.Fatalf("response does not encode: %v", err)
		}
		assertHeld(t, req.Children, resp.Children)
	})
}

// FuzzSyncCluster: SyncCluster never panics on a decodable request, and an unknown report keeps
// every child.
func FuzzSyncCluster(f *testing.F) {
	for _, c := range loadClusterCases(f) {
		f.Add(c.raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		req, err := DecodeClusterSyncRequest(raw)
		if err != nil {
			return
		}
		resp := SyncCluster(&req, ClusterReport{})
		if _, err := json.Marshal(resp); err != nil {
			t.Fatalf("response does not encode: %v", err)
		}
		assertHeld(t, req.Children, resp.Children)
	})
}

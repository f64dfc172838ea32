package manifests_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/redhook/redhook/manifests/internal/driver"
)

// (d) What users install — `kubectl kustomize manifests` and `helm template charts/redhook` —
// is accepted by the API server with a server-side dry-run apply. Metacontroller's
// CompositeController CRD (and the Prometheus Operator's ServiceMonitor CRD) are stood in by
// minimal CRDs from testdata; namespaces are created for real (a dry-run namespace does not
// exist for the objects in it).

const installNamespace = "redhook-system"

var supportCRDs struct {
	sync.Once
	err error
}

// installSupportCRDs installs the stand-in CRDs of testdata once.
func installSupportCRDs(t *testing.T) {
	t.Helper()
	c := needCluster(t)
	supportCRDs.Do(func() {
		for _, f := range []string{"testdata/compositecontroller-crd.yaml", "testdata/servicemonitor-crd.yaml"} {
			if _, err := installCRDFile(c, f); err != nil {
				supportCRDs.err = fmt.Errorf("%s: %w", f, err)
				return
			}
		}
	})
	require.NoError(t, supportCRDs.err)
}

func TestKustomizeApplies(t *testing.T) {
	installCRD(t)
	installSupportCRDs(t)
	c := cluster
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	out, err := run(ctx, c.tools.kubectl, "kustomize", ".")
	require.NoError(t, err)
	objs, err := driver.DecodeYAML([]byte(out))
	require.NoError(t, err)
	assertKinds(t, objs, "Namespace", "CustomResourceDefinition", "ServiceAccount", "Deployment",
		"Service", "NetworkPolicy", "CompositeController")
	applyInstallDryRun(t, objs, installNamespace)
	checkCompositeControllers(t, objs)

	// The documented install command itself (manifests/kustomization.yaml), dry-run.
	out, err = c.kubectl(ctx, "apply", "--server-side", "--dry-run=server", "-k", ".")
	assert.NoError(t, err)
	t.Logf("kubectl apply --server-side --dry-run=server -k manifests:\n%s", out)
}

func TestHelmTemplateApplies(t *testing.T) {
	installCRD(t)
	installSupportCRDs(t)
	c := cluster
	cases := map[string][]string{
		"defaults":                nil,
		"servicemonitor-nonetpol": {"--set", "serviceMonitor.enabled=true", "--set", "networkPolicy.enabled=false"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			home := t.TempDir() // helm writes nothing to the real home
			helmArgs := append([]string{"template", "redhook", "../charts/redhook",
				"--namespace", installNamespace, "--include-crds",
				"--repository-cache", filepath.Join(home, "repo-cache"),
				"--repository-config", filepath.Join(home, "repositories.yaml")}, args...)
			out, err := runEnv(ctx, []string{"HELM_CACHE_HOME=" + home, "HELM_CONFIG_HOME=" + home,
				"HELM_DATA_HOME=" + home}, c.tools.helm, helmArgs...)
			require.NoError(t, err)
			objs, err := driver.DecodeYAML([]byte(out))
			require.NoError(t, err)
			assertKinds(t, objs, "CustomResourceDefinition", "ServiceAccount", "Deployment", "Service",
				"CompositeController")
			// helm install creates the release namespace (--create-namespace) before the objects.
			ensureNamespace(t, installNamespace)
			applyInstallDryRun(t, objs, installNamespace)
			checkCompositeControllers(t, objs)
		})
	}
}

// assertKinds checks that every kind is among objs.
func assertKinds(t *testing.T, objs []*unstructured.Unstructured, kinds ...string) {
	t.Helper()
	have := map[string]bool{}
	for _, o := range objs {
		have[o.GetKind()] = true
	}
	for _, k := range kinds {
		assert.True(t, have[k], "no %s rendered", k)
	}
}

// applyInstallDryRun creates the Namespaces for real, then dry-run applies every object;
// namespaced objects without a namespace go to namespace, as kubectl -n and helm do.
func applyInstallDryRun(t *testing.T, objs []*unstructured.Unstructured, namespace string) {
	t.Helper()
	c := needCluster(t)
	for _, o := range objs {
		if o.GroupVersionKind() == nsGVK {
			ensureNamespace(t, o.GetName())
		}
	}
	for _, o := range objs {
		t.Run(fmt.Sprintf("%s/%s", o.GetKind(), o.GetName()), func(t *testing.T) {
			r, err := c.client.Resource(t.Context(), o.GroupVersionKind())
			require.NoError(t, err)
			if r.Namespaced && o.GetNamespace() == "" {
				o.SetNamespace(namespace)
			}
			_, err = c.client.Apply(t.Context(), o, driver.ApplyOptions{Manager: testManager, DryRun: true})
			assert.NoError(t, err)
		})
	}
}

// checkCompositeControllers checks what Metacontroller needs of redhook's CompositeControllers
// (docs/architecture.md, "The wire protocol and its traps"), one per parent kind — RedisFailover
// and RedisCluster: v2 sync and customize hooks at that kind's paths, generateSelector, and every
// kind redhook renders for that parent (in any golden case of it) declared as a child resource
// with the InPlace update strategy — Metacontroller refuses a sync answer with a child of an
// undeclared type.
func checkCompositeControllers(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	hookPaths := map[schema.GroupVersionKind]map[string]string{
		rfGVK: {"sync": "/sync", "customize": "/customize"},
		rcGVK: {"sync": "/sync-cluster", "customize": "/customize-cluster"},
	}
	seen := map[schema.GroupVersionKind]int{}
	for _, o := range objs {
		if o.GetKind() != "CompositeController" {
			continue
		}
		t.Run("metacontroller-contract/"+o.GetName(), func(t *testing.T) {
			ctx := t.Context()
			c := needCluster(t)
			av, _, _ := unstructured.NestedString(o.Object, "spec", "parentResource", "apiVersion")
			res, _, _ := unstructured.NestedString(o.Object, "spec", "parentResource", "resource")
			parent, err := c.client.KindFor(ctx, av, res)
			require.NoError(t, err, "parentResource")
			require.Contains(t, hookPaths, parent, "a parent kind redhook serves")
			seen[parent]++
			rendered := renderedKinds(t, parent == rcGVK)
			gen, _, _ := unstructured.NestedBool(o.Object, "spec", "generateSelector")
			assert.True(t, gen, "generateSelector")
			for _, hook := range []string{"sync", "customize"} {
				v, _, _ := unstructured.NestedString(o.Object, "spec", "hooks", hook, "version")
				assert.Equal(t, "v2", v, "hooks.%s.version", hook)
				path, _, _ := unstructured.NestedString(o.Object, "spec", "hooks", hook, "webhook", "path")
				assert.Equal(t, hookPaths[parent][hook], path, "hooks.%s.webhook.path", hook)
			}
			declared := declaredChildTypes(t, o)
			resources, _, _ := unstructured.NestedSlice(o.Object, "spec", "childResources")
			for i, r := range resources {
				m, _ := r.(map[string]any)
				method, _, _ := unstructured.NestedString(m, "updateStrategy", "method")
				assert.Equal(t, "InPlace", method, "updateStrategy of %s", declared[i].Kind)
			}
			for _, k := range rendered {
				assert.Contains(t, declared, k, "redhook renders %s: it must be a declared child resource", k.Kind)
			}
		})
	}
	assert.Equal(t, map[schema.GroupVersionKind]int{rfGVK: 1, rcGVK: 1}, seen, "one CompositeController per parent kind")
}

// renderedKinds are the kinds of every child of every golden sync response of one parent kind
// (cluster: RedisCluster, else RedisFailover).
func renderedKinds(t *testing.T, cluster bool) []schema.GroupVersionKind {
	t.Helper()
	seen := map[schema.GroupVersionKind]bool{}
	var out []schema.GroupVersionKind
	for _, g := range goldenDirs(t) {
		if g.cluster != cluster {
			continue
		}
		f := g.response()
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var resp struct {
			Children []unstructured.Unstructured `json:"children"`
		}
		require.NoError(t, json.Unmarshal(b, &resp), f)
		for _, c := range resp.Children {
			if k := c.GroupVersionKind(); !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	require.NotEmpty(t, out)
	return out
}

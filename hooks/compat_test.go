package hooks

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
)

// Tests of "spotahome users keep their behaviour": a spotahome manifest renders what spotahome
// rendered where a client, a script or a dashboard can notice it, unless it opts in to more.

// child decodes the rendered child kind/name of resp into out; false when there is none.
func child(t *testing.T, resp SyncResponse, kind, name string, out any) bool {
	t.Helper()
	for _, ch := range responseChildren(t, resp) {
		if ch.Kind == kind && ch.Metadata.Name == name {
			require.NoError(t, json.Unmarshal(ch.raw, out))
			return true
		}
	}
	return false
}

// syncCase renders the golden case name with its spec changed by edit.
func syncCase(t *testing.T, name string, edit func(rf *RedisFailover)) SyncResponse {
	t.Helper()
	c := findCase(t, name)
	if edit != nil {
		edit(&c.req.Parent)
	}
	return Sync(&c.req, c.obs)
}

func container(t *testing.T, pod corev1.PodSpec, name string) corev1.Container {
	t.Helper()
	for _, c := range append(append([]corev1.Container(nil), pod.InitContainers...), pod.Containers...) {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %s", name)
	return corev1.Container{}
}

func envNames(c corev1.Container) []string {
	var out []string
	for _, e := range c.Env {
		out = append(out, e.Name)
	}
	return out
}

type renderedSecret struct {
	Data map[string][]byte `json:"data"`
}

type renderedConfigMap struct {
	Data map[string]string `json:"data"`
}

type renderedWorkload struct {
	Metadata ObjectMeta `json:"metadata"`
	Spec     struct {
		Template struct {
			Metadata TemplateMeta   `json:"metadata"`
			Spec     corev1.PodSpec `json:"spec"`
		} `json:"template"`
	} `json:"spec"`
}

// Item 9: spotahome's sentinels require no password; clients configured for spotahome (a
// password for redis, none for the sentinels) must keep working. The sentinels still
// authenticate to redis.
func TestSentinelsRequireNoPasswordByDefault(t *testing.T) {
	resp := syncCase(t, "auth", nil)
	var sec renderedSecret
	require.True(t, child(t, resp, "Secret", "rfr-auth-cache", &sec))
	conf := string(sec.Data[authSentinelFile])
	assert.NotContains(t, conf, "requirepass", "sentinel.conf must not require a password")
	assert.NotContains(t, conf, "sentinel-pass")
	assert.Contains(t, conf, "sentinel auth-pass mymaster ", "the sentinels must still authenticate to redis")
	assert.Contains(t, string(sec.Data[authRedisFile]), "requirepass ", "redis keeps its password")

	var cm renderedConfigMap
	require.True(t, child(t, resp, "ConfigMap", "rfs-cache", &cm))
	assert.Contains(t, cm.Data[sentinelConfFile], "protected-mode no\n",
		"without requirepass, protected mode would refuse clients from other pods")

	var dep renderedWorkload
	require.True(t, child(t, resp, "Deployment", "rfs-cache", &dep))
	assert.NotContains(t, envNames(container(t, dep.Spec.Template.Spec, "sentinel")), "REDISCLI_AUTH",
		"the probes must not send an AUTH that a sentinel without requirepass refuses")

	var cms renderedConfigMap
	require.True(t, child(t, resp, "ConfigMap", "rfr-s-cache", &cms))
	assert.Contains(t, cms.Data[shutdownScript], "(unset REDISCLI_AUTH; $t redis-cli -h \"$sentinel\"",
		"the preStop script must talk to the sentinels without redis' password")

	c := findCase(t, "auth")
	topo, ok := NewTopology(&c.req)
	require.True(t, ok)
	assert.True(t, topo.Password.IsSet())
	assert.False(t, topo.SentinelPassword.IsSet(), "the healer must know the sentinels require no password")
}

func TestSentinelAuthOptIn(t *testing.T) {
	on := func(rf *RedisFailover) { rf.Spec.Auth.Sentinel = true }
	resp := syncCase(t, "auth", on)
	var sec renderedSecret
	require.True(t, child(t, resp, "Secret", "rfr-auth-cache", &sec))
	conf := string(sec.Data[authSentinelFile])
	for _, line := range []string{"requirepass ", "sentinel sentinel-pass ", "sentinel auth-pass mymaster "} {
		assert.Contains(t, conf, line)
	}
	var cm renderedConfigMap
	require.True(t, child(t, resp, "ConfigMap", "rfs-cache", &cm))
	assert.NotContains(t, cm.Data[sentinelConfFile], "protected-mode")
	var dep renderedWorkload
	require.True(t, child(t, resp, "Deployment", "rfs-cache", &dep))
	assert.Contains(t, envNames(container(t, dep.Spec.Template.Spec, "sentinel")), "REDISCLI_AUTH")
	var cms renderedConfigMap
	require.True(t, child(t, resp, "ConfigMap", "rfr-s-cache", &cms))
	assert.NotContains(t, cms.Data[shutdownScript], "unset REDISCLI_AUTH")

	c := findCase(t, "auth")
	on(&c.req.Parent)
	topo, ok := NewTopology(&c.req)
	require.True(t, ok)
	assert.Equal(t, topo.Password.Value(), topo.SentinelPassword.Value())

	// Without a password the field would promise protected sentinels that are open.
	errs := Validate(rfWith(RedisFailoverSpec{Auth: AuthSettings{Sentinel: true}}))
	assert.Equal(t, []string{"spec.auth.sentinel: requires spec.auth.secretPath (the password the sentinels would require)"},
		errStrings(errs))
}

func errStrings(es FieldErrors) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Error()
	}
	return out
}

// Item 10: spotahome left enableServiceLinks at the Kubernetes default (true); its
// custom-shutdown example reads RFS_NAME_SERVICE_HOST and RFS_NAME_SERVICE_PORT_SENTINEL.
func TestServiceLinksOnByDefault(t *testing.T) {
	resp := syncCase(t, "minimal", nil)
	for _, w := range []struct{ kind, name string }{{"StatefulSet", "rfr-cache"}, {"Deployment", "rfs-cache"}} {
		var obj renderedWorkload
		require.True(t, child(t, resp, w.kind, w.name, &obj))
		links := obj.Spec.Template.Spec.EnableServiceLinks
		assert.True(t, links == nil || *links, "%s %s: service links must stay on", w.kind, w.name)
	}
}

func TestServiceLinksField(t *testing.T) {
	resp := syncCase(t, "minimal", func(rf *RedisFailover) {
		rf.Spec.Redis.EnableServiceLinks = ptr(false)
	})
	var sts, dep renderedWorkload
	require.True(t, child(t, resp, "StatefulSet", "rfr-cache", &sts))
	require.True(t, child(t, resp, "Deployment", "rfs-cache", &dep))
	assert.Equal(t, ptr(false), sts.Spec.Template.Spec.EnableServiceLinks)
	assert.Equal(t, ptr(true), dep.Spec.Template.Spec.EnableServiceLinks, "each component has its own field")
}

// Item 11: spotahome's exporter conventions (operator/redisfailover/service/generator.go and
// constants.go, v1.2-v1.3): Service port http-metrics on 9121, prometheus.io annotations on the
// rfr Service, default resources, REDIS_ALIAS and the redis env on the redis exporter, and for the
// sentinel exporter REDIS_ADDR and REDIS_EXPORTER_WEB_LISTEN_ADDRESS=0.0.0.0:9355 (its default
// image is oliver006/redis_exporter, which listens on 9121 otherwise).
func TestExporterAsSpotahome(t *testing.T) {
	resp := syncCase(t, "exporter", nil)
	var svc struct {
		Metadata ObjectMeta         `json:"metadata"`
		Spec     corev1.ServiceSpec `json:"spec"`
	}
	require.True(t, child(t, resp, "Service", "rfr-cache", &svc))
	assert.Contains(t, svc.Spec.Ports, tcpPort("http-metrics", 9121), "ServiceMonitors select the port http-metrics")
	assert.Equal(t, "true", svc.Metadata.Annotations["prometheus.io/scrape"])
	assert.Equal(t, "9121", svc.Metadata.Annotations["prometheus.io/port"])
	assert.Equal(t, "/metrics", svc.Metadata.Annotations["prometheus.io/path"])
	require.True(t, child(t, resp, "Service", "rfs-cache", &svc))
	assert.Contains(t, svc.Spec.Ports, tcpPort("http-metrics", 9355))

	defaultResources := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: mustQuantity("10m"), corev1.ResourceMemory: mustQuantity("50Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: mustQuantity("1"), corev1.ResourceMemory: mustQuantity("100Mi")},
	}
	var sts, dep renderedWorkload
	require.True(t, child(t, resp, "StatefulSet", "rfr-cache", &sts))
	redis := container(t, sts.Spec.Template.Spec, "redis-exporter")
	assert.Equal(t, []string{"REDIS_ALIAS", "REDIS_ADDR", "REDIS_PORT", "REDIS_USER", "REDIS_EXPORTER_LOG_FORMAT"}, envNames(redis))
	assert.Equal(t, "metadata.name", redis.Env[0].ValueFrom.FieldRef.FieldPath)
	assert.Equal(t, defaultResources.String(), redis.Resources.String())

	require.True(t, child(t, resp, "Deployment", "rfs-cache", &dep))
	sentinel := container(t, dep.Spec.Template.Spec, "sentinel-exporter")
	assert.Equal(t, []string{"REDIS_ALIAS", "REDIS_ADDR", "REDIS_EXPORTER_WEB_LISTEN_ADDRESS", "SENTINEL_ADDR"}, envNames(sentinel))
	assert.Contains(t, sentinel.Env, corev1.EnvVar{Name: "REDIS_EXPORTER_WEB_LISTEN_ADDRESS", Value: "0.0.0.0:9355"})
	assert.Contains(t, sentinel.Env, corev1.EnvVar{Name: "REDIS_ADDR", Value: "redis://127.0.0.1:26379"})
	assert.Equal(t, defaultResources.String(), sentinel.Resources.String())

	// spotahome's default sentinel exporter image is oliver006/redis_exporter, as for redis.
	resp = syncCase(t, "exporter", func(rf *RedisFailover) { rf.Spec.Sentinel.Exporter.Image = "" })
	require.True(t, child(t, resp, "Deployment", "rfs-cache", &dep))
	assert.Equal(t, DefaultRedisExporterImage, container(t, dep.Spec.Template.Spec, "sentinel-exporter").Image)

	// No exporter: no scrape annotations (Prometheus would scrape the redis port over HTTP).
	resp = syncCase(t, "minimal", nil)
	var plain Service
	require.True(t, child(t, resp, "Service", "rfr-cache", &plain))
	assert.NotContains(t, plain.Metadata.Annotations, "prometheus.io/scrape")
}

func TestExporterResourcesGiven(t *testing.T) {
	none := corev1.ResourceRequirements{}
	resp := syncCase(t, "exporter", func(rf *RedisFailover) { rf.Spec.Redis.Exporter.Resources = &none })
	var sts renderedWorkload
	require.True(t, child(t, resp, "StatefulSet", "rfr-cache", &sts))
	assert.Equal(t, none, container(t, sts.Spec.Template.Spec, "redis-exporter").Resources,
		"resources: {} means none, as in spotahome (a pointer there)")
}

// Item 12: spotahome copied the parent's metadata.annotations to the redis StatefulSet
// (generateRedisStatefulSet: ObjectMeta.Annotations = rf.Annotations), to no other child and
// not to the pod template. kubectl's last-applied-configuration and Metacontroller's own
// annotations are never copied.
func TestParentAnnotationsOnStatefulSet(t *testing.T) {
	resp := syncCase(t, "minimal", func(rf *RedisFailover) {
		rf.Annotations = map[string]string{
			"team.example.com/owner":                           "payments",
			"kubectl.kubernetes.io/last-applied-configuration": `{"apiVersion":"databases.spotahome.com/v1"}`,
			"metacontroller.k8s.io/last-applied-configuration": `{}`,
			"metacontroller.k8s.io/decorator-controllers":      "x",
			"argocd.argoproj.io/sync-wave":                     "1",
		}
	})
	var sts, dep renderedWorkload
	require.True(t, child(t, resp, "StatefulSet", "rfr-cache", &sts))
	assert.Equal(t, map[string]string{"team.example.com/owner": "payments", "argocd.argoproj.io/sync-wave": "1"},
		sts.Metadata.Annotations)
	assert.Empty(t, sts.Spec.Template.Metadata.Annotations, "spotahome put only podAnnotations on the pods")
	require.True(t, child(t, resp, "Deployment", "rfs-cache", &dep))
	assert.Empty(t, dep.Metadata.Annotations, "spotahome copied them to the StatefulSet only")
}

package hooks

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func rfWith(spec RedisFailoverSpec) *RedisFailover {
	return &RedisFailover{ObjectMeta: metav1.ObjectMeta{Name: "cache", Namespace: "shop"}, Spec: spec}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		spec RedisFailoverSpec
		want []string
	}{
		{"empty spec is valid", RedisFailoverSpec{}, nil},
		{"managed redis option", RedisFailoverSpec{Redis: RedisSettings{PodSettings: PodSettings{
			CustomConfig: []string{"maxmemory 1gb", "port 7000", "PORT 7001"}}}},
			[]string{`spec.redis.customConfig[1]: "port" is managed by redhook`,
				`spec.redis.customConfig[2]: "port" is managed by redhook`}},
		{"rename-command points at the right field", RedisFailoverSpec{Redis: RedisSettings{PodSettings: PodSettings{
			CustomConfig: []string{"rename-command FLUSHALL x"}}}},
			[]string{`spec.redis.customConfig[0]: "rename-command" is managed by redhook; use spec.redis.customCommandRenames`}},
		{"config injection through a newline", RedisFailoverSpec{Redis: RedisSettings{PodSettings: PodSettings{
			CustomConfig: []string{"maxmemory 1gb\nslaveof 10.0.0.1 6379"}}}},
			[]string{`spec.redis.customConfig[0]: must be a single line`}},
		{"config injection through a rename", RedisFailoverSpec{Redis: RedisSettings{
			CustomCommandRenames: []RedisCommandRename{{From: "KEYS", To: "x\nrequirepass y"}}}},
			[]string{`spec.redis.customCommandRenames[0].to: "x\nrequirepass y": a command name (letters, digits, '_', '-', '|', '.'), or empty to disable the command`}},
		{"sentinel option not settable", RedisFailoverSpec{Sentinel: SentinelSettings{PodSettings: PodSettings{
			CustomConfig: []string{"auth-pass secret"}}}},
			[]string{`spec.sentinel.customConfig[0]: "auth-pass" is not a per-master Sentinel option redhook sets; use one of down-after-milliseconds, failover-timeout, parallel-syncs, master-reboot-down-after-period`}},
		{"sentinel values Sentinel refuses", RedisFailoverSpec{Sentinel: SentinelSettings{PodSettings: PodSettings{
			CustomConfig: []string{"down-after-milliseconds 0", "parallel-syncs 0", "failover-timeout 99999999999", "master-reboot-down-after-period 0"}}}},
			[]string{`spec.sentinel.customConfig[0]: "down-after-milliseconds": the value "0" is not an integer from 1 to 2147483647`,
				`spec.sentinel.customConfig[1]: "parallel-syncs": the value "0" is not an integer from 1 to 2147483647`,
				`spec.sentinel.customConfig[2]: "failover-timeout": the value "99999999999" is not an integer from 1 to 2147483647`}},
		{"bootstrap without host", RedisFailoverSpec{BootstrapNode: &BootstrapSettings{Port: "x"}},
			[]string{`spec.bootstrapNode.host: must be set when bootstrapNode is set`,
				`spec.bootstrapNode.port: "x" is not a port number (1-65535)`}},
		{"bad secret name", RedisFailoverSpec{Auth: AuthSettings{SecretPath: "Bad_Name"}}, []string{
			`spec.auth.secretPath: "Bad_Name": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`}},
		{"reserved volume from the PVC name", RedisFailoverSpec{Redis: RedisSettings{
			PodSettings: PodSettings{ExtraVolumes: []corev1.Volume{{Name: "data"}}},
			Storage: RedisStorage{PersistentVolumeClaim: &EmbeddedPersistentVolumeClaim{EmbeddedObjectMetadata: EmbeddedObjectMetadata{Name: "data"},
				Spec: claimSpec("1Gi")}}}},
			[]string{`spec.redis.extraVolumes[0].name: "data" is the name of a volume redhook adds`}},
		{"customConfig Redis refuses at boot (the issue's samples)", RedisFailoverSpec{Redis: RedisSettings{PodSettings: PodSettings{
			CustomConfig: []string{"maxmemory 100zz", "nosuchoption 1", `maxmemory-policy "allkeys-lru`, "maxmemory-policy lru",
				"appendfsync always everysec", "save 900", "hz 1kb", "maxmemory 100mb", `save "900 1 300 10"`, "cluster-enabled yes"}}}},
			[]string{`spec.redis.customConfig[0]: "maxmemory": "100zz" is not a memory size (bytes, or a number with b, k, kb, m, mb, g or gb) (Redis would stop at boot)`,
				`spec.redis.customConfig[1]: "nosuchoption" is not a Redis 7.0 option (Redis would stop at boot); if your Redis knows it, move the line to spec.redis.customConfigUnchecked`,
				`spec.redis.customConfig[2]: "maxmemory-policy \"allkeys-lru": unbalanced quotes (Redis would stop at boot)`,
				`spec.redis.customConfig[3]: "maxmemory-policy": "lru": one of volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction (Redis would stop at boot)`,
				`spec.redis.customConfig[4]: "appendfsync": takes one of everysec, always, no (Redis would stop at boot)`,
				`spec.redis.customConfig[5]: "save": takes pairs of seconds and changes ("900 1 300 10"), or "" to disable snapshots (Redis would stop at boot)`,
				`spec.redis.customConfig[6]: "hz": "1kb" is not an integer (Redis would stop at boot)`,
				`spec.redis.customConfig[9]: "cluster-enabled" is managed by redhook; redis.conf has replicaof, which Redis refuses in cluster mode`}},
		{"customConfigUnchecked skips only the option table", RedisFailoverSpec{Redis: RedisSettings{
			CustomConfigUnchecked: []string{"nosuchoption 1", "port 7000", `x "y`, "loadmodule /opt/m.so"}}},
			[]string{`spec.redis.customConfigUnchecked[1]: "port" is managed by redhook`,
				`spec.redis.customConfigUnchecked[2]: "x \"y": unbalanced quotes (Redis would stop at boot)`}},
		{"renames that break replication, failover or boot", RedisFailoverSpec{Redis: RedisSettings{CustomCommandRenames: []RedisCommandRename{
			{From: "psync", To: "x1"}, {From: "SYNC"}, {From: "save"}, {From: "NOSUCHCMD", To: "x2"}, {From: "KEYS", To: "get"},
			{From: "FLUSHALL", To: "wipe"}, {From: "flushall", To: "wipe2"}, {From: "FLUSHDB", To: "WIPE"}, {From: "DEBUG"}}}},
			[]string{`spec.redis.customCommandRenames[0].from: "psync" is needed by replication and cannot be renamed`,
				`spec.redis.customCommandRenames[1].from: "SYNC" is needed by replication and cannot be renamed`,
				`spec.redis.customCommandRenames[2].from: "save" is needed by the preStop script and cannot be renamed`,
				`spec.redis.customCommandRenames[3].from: "NOSUCHCMD" is not a Redis 7.0 command (Redis would stop at boot)`,
				`spec.redis.customCommandRenames[4].to: "get" is the name of a Redis command (Redis would stop at boot)`,
				`spec.redis.customCommandRenames[6].from: "flushall" is renamed by customCommandRenames[5] already (Redis would stop at boot)`,
				`spec.redis.customCommandRenames[7].to: "WIPE" is the new name in customCommandRenames[5] already (Redis would stop at boot)`}},
		// What the API server or the kubelet would refuse forever.
		{"loopback bootstrap host (spotahome's bootstrapping examples)", RedisFailoverSpec{BootstrapNode: &BootstrapSettings{Host: "127.0.0.1"}},
			[]string{`spec.bootstrapNode.host: "127.0.0.1" is a loopback, link-local or unspecified address: in a pod it is the pod itself or not routable, and the API server refuses it in the master EndpointSlice; give the node's routable address or DNS name`}},
		{"link-local bootstrap host", RedisFailoverSpec{BootstrapNode: &BootstrapSettings{Host: "169.254.10.2"}},
			[]string{`spec.bootstrapNode.host: "169.254.10.2" is a loopback, link-local or unspecified address: in a pod it is the pod itself or not routable, and the API server refuses it in the master EndpointSlice; give the node's routable address or DNS name`}},
		{"other loopback, link-local and unspecified hosts", RedisFailoverSpec{BootstrapNode: &BootstrapSettings{Host: "::1"}}, []string{
			`spec.bootstrapNode.host: "::1" is a loopback, link-local or unspecified address: in a pod it is the pod itself or not routable, and the API server refuses it in the master EndpointSlice; give the node's routable address or DNS name`}},
		{"routable bootstrap hosts are fine", RedisFailoverSpec{BootstrapNode: &BootstrapSettings{Host: "10.1.2.3"}}, nil},
		{"PVC without size", RedisFailoverSpec{Redis: RedisSettings{Storage: RedisStorage{
			PersistentVolumeClaim: &EmbeddedPersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{"ReadWriteOnce"}}}}}},
			[]string{`spec.redis.storage.persistentVolumeClaim.spec.resources.requests.storage: must be set: a claim without a size is never created`}},
		{"PVC with a negative size", RedisFailoverSpec{Redis: RedisSettings{Storage: RedisStorage{
			PersistentVolumeClaim: &EmbeddedPersistentVolumeClaim{Spec: claimSpec("-1Gi")}}}},
			[]string{`spec.redis.storage.persistentVolumeClaim.spec.resources.requests.storage: -1Gi: must be greater than zero`}},
		{"blank images", RedisFailoverSpec{
			Redis: RedisSettings{PodSettings: PodSettings{Image: "  ", Exporter: Exporter{Image: " redis_exporter"},
				ExtraContainers: []corev1.Container{{Name: "sidecar"}}}},
			Sentinel: SentinelSettings{PodSettings: PodSettings{Image: "\t"}}},
			[]string{`spec.redis.image: must be set (not blank)`,
				`spec.redis.exporter.image: " redis_exporter": must not have leading or trailing blanks`,
				`spec.redis.extraContainers[0].image: must be set (not blank)`,
				`spec.sentinel.image: must be set (not blank)`}},
		{"duplicate mount paths", RedisFailoverSpec{Auth: AuthSettings{SecretPath: "auth"},
			Redis: RedisSettings{PodSettings: PodSettings{
				ExtraVolumes: []corev1.Volume{{Name: "a"}, {Name: "b"}},
				ExtraVolumeMounts: []corev1.VolumeMount{{Name: "a", MountPath: "/extra"}, {Name: "b", MountPath: "/extra/"},
					{Name: "a", MountPath: "/data"}, {Name: "a", MountPath: "/redis-auth"}}}},
			Sentinel: SentinelSettings{PodSettings: PodSettings{
				ExtraVolumeMounts: []corev1.VolumeMount{{Name: "a", MountPath: "/data"}, {Name: "a", MountPath: "/redis"}}}}},
			[]string{`spec.redis.extraVolumeMounts[1].mountPath: "/extra/" is also the mountPath of spec.redis.extraVolumeMounts[0]`,
				`spec.redis.extraVolumeMounts[2].mountPath: "/data" is a path redhook mounts in this container`,
				`spec.redis.extraVolumeMounts[3].mountPath: "/redis-auth" is a path redhook mounts in this container`,
				`spec.sentinel.extraVolumeMounts[1].mountPath: "/redis" is a path redhook mounts in this container`}},
		{"duplicate names", RedisFailoverSpec{Redis: RedisSettings{PodSettings: PodSettings{
			ExtraVolumes:    []corev1.Volume{{Name: "a"}, {Name: "a"}},
			InitContainers:  []corev1.Container{{Name: "setup", Image: "busybox"}},
			ExtraContainers: []corev1.Container{{Name: "setup", Image: "busybox"}, {Name: "redis-exporter", Image: "busybox"}, {Name: "Bad", Image: "busybox"}}}}},
			[]string{`spec.redis.extraVolumes[1].name: "a" is also the name of spec.redis.extraVolumes[0]`,
				`spec.redis.extraContainers[0].name: "setup" is also the name of spec.redis.initContainers[0]`,
				`spec.redis.extraContainers[1].name: "redis-exporter" is the name of a container redhook adds`,
				`spec.redis.extraContainers[2].name: "Bad": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, e := range Validate(rfWith(tt.spec)) {
				got = append(got, e.Error())
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestValidateName(t *testing.T) {
	rf := rfWith(RedisFailoverSpec{})
	rf.Name = "Cache"
	errs := Validate(rf)
	require.Len(t, errs, 1)
	assert.Equal(t, "metadata.name", errs[0].Path)
	rf.Name = "c23456789012345678901234567890123456789012345678" // 48
	assert.Empty(t, Validate(rf))
	rf.Name += "9"
	require.Len(t, Validate(rf), 1)
}

func TestValidateDoesNotMutate(t *testing.T) {
	rf := rfWith(RedisFailoverSpec{Sentinel: SentinelSettings{PodSettings: PodSettings{CustomConfig: []string{"parallel-syncs 1"}}}})
	before := rf.DeepCopy()
	Validate(rf)
	assert.Equal(t, before, rf)
}

func TestWithDefaults(t *testing.T) {
	rf := rfWith(RedisFailoverSpec{Sentinel: SentinelSettings{PodSettings: PodSettings{
		CustomConfig: []string{"down-after-milliseconds 1000", "master-reboot-down-after-period 500"}}}})
	before := rf.DeepCopy()
	d := rf.WithDefaults()
	assert.Equal(t, before, rf, "WithDefaults changed its receiver")
	assert.Equal(t, []string{"down-after-milliseconds 1000", "failover-timeout 10000", "parallel-syncs 2",
		"master-reboot-down-after-period 500"}, d.Spec.Sentinel.CustomConfig, "a user entry overrides only its key")
	assert.EqualValues(t, 3, d.Spec.Redis.Replicas)
	assert.EqualValues(t, 6379, d.Spec.Redis.Port)
	assert.Equal(t, DefaultMasterName, d.Spec.Sentinel.MasterName)
	assert.Equal(t, corev1.PullIfNotPresent, d.Spec.Redis.ImagePullPolicy)
	assert.EqualValues(t, 30, d.Spec.Redis.TerminationGracePeriod)
	// Defaulting twice changes nothing more.
	assert.Equal(t, d, d.WithDefaults())
}

func TestQuoteConfig(t *testing.T) {
	assert.Equal(t, `"plain"`, quoteConfig("plain"))
	assert.Equal(t, `"a\"b\\c\x0ad\x00"`, quoteConfig("a\"b\\c\nd\x00"))
}

func TestCustomize(t *testing.T) {
	rf := rfWith(RedisFailoverSpec{Auth: AuthSettings{SecretPath: "cache-auth"}})
	resp := Customize(&CustomizeRequest{Parent: *rf})
	require.Len(t, resp.RelatedResources, 2)
	pods, secrets := resp.RelatedResources[0], resp.RelatedResources[1]
	assert.Equal(t, "pods", pods.Resource)
	assert.Equal(t, "shop", pods.Namespace, "a rule without namespace selects across namespaces")
	assert.Equal(t, map[string]string{LabelName: "cache", LabelPartOf: partOf}, pods.LabelSelector.MatchLabels)
	assert.Equal(t, "secrets", secrets.Resource)
	assert.Equal(t, "shop", secrets.Namespace)
	assert.Equal(t, []string{"cache-auth"}, secrets.Names)
	assert.Len(t, Customize(&CustomizeRequest{Parent: *rfWith(RedisFailoverSpec{})}).RelatedResources, 1)
}

func TestSecretNeverPrints(t *testing.T) {
	s := NewSecret("hunter2")
	for _, got := range []string{s.String(), s.GoString(), func() string { b, _ := s.MarshalJSON(); return string(b) }()} {
		assert.NotContains(t, got, "hunter2")
	}
	assert.Equal(t, "hunter2", s.Value())
}

// TestSecurityContextDefaults: whatever part of the pod securityContext the spec gives, every
// container redhook renders starts (the kubelet refuses runAsNonRoot without a user).
func TestSecurityContextDefaults(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	tests := []struct {
		name string
		sc   *corev1.PodSecurityContext
		user int64 // the pod's runAsUser after defaulting
	}{
		{"none", nil, 1000},
		{"fsGroup only", &corev1.PodSecurityContext{FSGroup: i64(2000)}, 1000},
		{"runAsNonRoot false (spotahome's pmem example)", &corev1.PodSecurityContext{RunAsNonRoot: ptr(false)}, 1000},
		{"root", &corev1.PodSecurityContext{RunAsUser: i64(0)}, 0},
		{"own user", &corev1.PodSecurityContext{RunAsUser: i64(999), RunAsNonRoot: ptr(true)}, 999},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := PodSettings{SecurityContext: tt.sc, Exporter: Exporter{Enabled: true}}
			rf := rfWith(RedisFailoverSpec{Redis: RedisSettings{PodSettings: pod}, Sentinel: SentinelSettings{PodSettings: pod}})
			before := rf.DeepCopy()
			d := rf.WithDefaults()
			assert.Equal(t, before, rf)
			r := &renderer{rf: d}
			for what, spec := range map[string]corev1.PodSpec{"redis": r.redisPodSpec(), "sentinel": r.sentinelPodSpec()} {
				require.NotNil(t, spec.SecurityContext, what)
				assert.Equal(t, tt.user, *spec.SecurityContext.RunAsUser, what)
				if tt.sc != nil && tt.sc.FSGroup != nil {
					assert.Equal(t, *tt.sc.FSGroup, *spec.SecurityContext.FSGroup, "%s: the user's fields are kept", what)
				}
				assert.Len(t, spec.Containers, 2, what)
				assertStartable(t, what, &spec)
			}
		})
	}
}

// TestBootstrapPortJSON: spec.bootstrapNode.port is a string in spotahome's API, and a number in
// its bootstrapping-with-port example; both decode. Anything else is a spec error with its path,
// not an HTTP error.
func TestBootstrapPortJSON(t *testing.T) {
	tests := []struct {
		port    string // JSON
		want    BootstrapPort
		wantErr string
	}{
		{`"6379"`, "6379", ""},
		{`6379`, "6379", ""},
		{`"7000"`, "7000", ""},
		{`-1`, "-1", `spec.bootstrapNode.port: "-1" is not a port number (1-65535)`},
		{`6379.5`, "", "spec.bootstrapNode.port: a JSON value 6379.5 where hooks.BootstrapPort is expected"},
		{`true`, "", "spec.bootstrapNode.port: a JSON value true where hooks.BootstrapPort is expected"},
	}
	for _, tt := range tests {
		t.Run(tt.port, func(t *testing.T) {
			raw := `{"parent":{"metadata":{"name":"cache","namespace":"shop"},"spec":{"bootstrapNode":{"host":"10.0.0.9","port":` + tt.port + `}}}}`
			req, err := DecodeSyncRequest([]byte(raw))
			require.NoError(t, err, "a bad port must be a spec error, not an HTTP error")
			var problems []string
			if req.ParentError != nil {
				problems = append(problems, decodeError(req.ParentError).Error())
			} else {
				assert.Equal(t, tt.want, req.Parent.Spec.BootstrapNode.Port)
				for _, e := range Validate(&req.Parent) {
					problems = append(problems, e.Error())
				}
			}
			if tt.wantErr == "" {
				assert.Empty(t, problems)
			} else {
				assert.Equal(t, []string{tt.wantErr}, problems)
			}
		})
	}
}

func claimSpec(size string) corev1.PersistentVolumeClaimSpec {
	return corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{"ReadWriteOnce"},
		Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}}}
}

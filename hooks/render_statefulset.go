package hooks

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// redisStatefulSet renders the redis pods.
func (r *renderer) redisStatefulSet() *StatefulSet {
	s := &r.rf.Spec.Redis
	policy := appsv1.ParallelPodManagement // every pod boots as a replica, so none is ever "ready first"
	if r.observedPolicy != "" {
		policy = appsv1.PodManagementPolicyType(r.observedPolicy) // immutable once created
	}
	sts := &StatefulSet{APIVersion: "apps/v1", Kind: "StatefulSet",
		// The parent's annotations, as spotahome copied them to this StatefulSet (and to no
		// other child, nor to the pod template).
		Metadata: r.meta(redisName(r.name()), ComponentRedis, copiedAnnotations(r.rf.Annotations)),
		Spec: StatefulSetSpec{
			Replicas:            ptr(r.rollout.replicas),
			Selector:            &metav1.LabelSelector{MatchLabels: SelectorLabels(r.name(), ComponentRedis)},
			ServiceName:         redisName(r.name()),
			PodManagementPolicy: policy,
			// The partition keeps the master's pod (and those below it) on the current revision
			// until the healer has switched over to an updated replica (rollout.go).
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr(r.rollout.partition)}},
			PersistentVolumeClaimRetentionPolicy: claimRetention(&s.Storage),
			Template: PodTemplate{
				Metadata: TemplateMeta{Labels: childLabels(r.rf, r.whitelist, ComponentRedis),
					Annotations: merged(s.PodAnnotations)},
				Spec: r.redisPodSpec(),
			},
			VolumeClaimTemplates: r.claimTemplates(),
		}}
	return sts
}

// claimTemplates: volumeClaimTemplates cannot change once the StatefulSet exists, so the
// observed ones are kept (a change is reported in the status instead of failing every apply).
func (r *renderer) claimTemplates() []ClaimTemplate {
	if r.observedClaims != nil {
		return r.observedClaims
	}
	return r.desiredClaims()
}

// claimRetention deletes the claims with the StatefulSet unless storage.keepAfterDeletion; a
// scale-down never drops data.
func claimRetention(s *RedisStorage) *appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy {
	whenDeleted := appsv1.DeletePersistentVolumeClaimRetentionPolicyType
	if s.KeepAfterDeletion {
		whenDeleted = appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	}
	return &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
		WhenDeleted: whenDeleted,
		WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
	}
}

func (r *renderer) desiredClaims() []ClaimTemplate { return storageClaims(&r.rf.Spec.Redis.Storage) }

// storageClaims are the volumeClaimTemplates of a storage spec: none for an emptyDir.
func storageClaims(s *RedisStorage) []ClaimTemplate {
	pvc := s.PersistentVolumeClaim
	if pvc == nil {
		return nil
	}
	spec := *pvc.Spec.DeepCopy()
	if spec.VolumeMode == nil {
		// The API server fills this in; rendering it too keeps the carried-over templates equal
		// to the first rendering, so a new StatefulSet is not rewritten once.
		spec.VolumeMode = ptr(corev1.PersistentVolumeFilesystem)
	}
	// apiVersion, kind and status are what the API server fills in (see ClaimTemplate).
	return []ClaimTemplate{{APIVersion: "v1", Kind: "PersistentVolumeClaim",
		Metadata: TemplateMeta{Name: pvc.Name, Labels: merged(pvc.Labels), Annotations: merged(pvc.Annotations)},
		Spec:     spec,
		Status:   &corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending},
	}}
}

// dataVolumeName is the volume mounted at /data.
func (r *renderer) dataVolumeName() string { return dataVolume(&r.rf.Spec.Redis.Storage) }

// dataVolume is the name of a storage spec's volume (defaulted).
func dataVolume(s *RedisStorage) string {
	if pvc := s.PersistentVolumeClaim; pvc != nil {
		return pvc.Name
	}
	return DefaultDataVolume
}

func (r *renderer) redisPodSpec() corev1.PodSpec {
	s := &r.rf.Spec.Redis
	spec := podSpec(&s.PodSettings, s.TerminationGracePeriod)
	spec.Volumes = r.redisVolumes()
	sidecarEnv := append([]corev1.EnvVar{
		{Name: "REDIS_ADDR", Value: "redis://127.0.0.1:" + r.portString()},
		{Name: "REDIS_PORT", Value: r.portString()},
		{Name: "REDIS_USER", Value: "default"},
	}, r.passwordEnv("REDIS_PASSWORD")...)
	spec.InitContainers = withEnv(s.InitContainers, sidecarEnv)
	spec.Containers = append([]corev1.Container{r.redisContainer()}, withEnv(s.ExtraContainers, sidecarEnv)...)
	if s.Exporter.Enabled {
		// The same variables as the other sidecars, as in spotahome.
		spec.Containers = append(spec.Containers,
			exporterContainer("redis-exporter", &s.Exporter, RedisExporterPort, sidecarEnv))
	}
	return spec
}

func (r *renderer) redisVolumes() []corev1.Volume {
	s := &r.rf.Spec.Redis
	shutdown := shutdownName(r.name())
	if s.ShutdownConfigMap != "" {
		shutdown = s.ShutdownConfigMap
	}
	vols := []corev1.Volume{
		configMapVolume("redis-config", redisName(r.name())),
		configMapVolume("redis-readiness", readinessName(r.name())),
		configMapVolume("redis-shutdown", shutdown),
	}
	if r.auth {
		vols = append(vols, secretVolume("redis-auth", authName(r.name())))
	}
	if s.StartupConfigMap != "" {
		vols = append(vols, configMapVolume("redis-startup", s.StartupConfigMap))
	}
	if s.Storage.PersistentVolumeClaim == nil {
		vols = append(vols, emptyDirVolume(DefaultDataVolume, s.Storage.EmptyDir))
	}
	return append(vols, extraVolumes(&s.PodSettings)...)
}

func (r *renderer) redisContainer() corev1.Container {
	s := &r.rf.Spec.Redis
	mounts := []corev1.VolumeMount{
		{Name: "redis-config", MountPath: redisConfigDir, ReadOnly: true},
		{Name: "redis-readiness", MountPath: readinessDir, ReadOnly: true},
		{Name: "redis-shutdown", MountPath: shutdownDir, ReadOnly: true},
		{Name: r.dataVolumeName(), MountPath: dataDir},
	}
	if r.auth {
		mounts = append(mounts, corev1.VolumeMount{Name: "redis-auth", MountPath: authDir, ReadOnly: true})
	}
	var startup *corev1.Probe
	if s.StartupConfigMap != "" {
		mounts = append(mounts, corev1.VolumeMount{Name: "redis-startup", MountPath: redisStartupDir, ReadOnly: true})
		startup = execProbe([]string{"sh", redisStartupDir + "/" + startupScript}, 0, 5, 5, 60)
	}
	env := append([]corev1.EnvVar{{Name: "REDIS_PORT", Value: r.portString()}, podIPEnv()},
		r.passwordEnv("REDISCLI_AUTH")...)
	return corev1.Container{
		Name: "redis", Image: s.Image, ImagePullPolicy: s.ImagePullPolicy,
		Command:        append([]string(nil), s.Command...),
		Ports:          []corev1.ContainerPort{{Name: "redis", ContainerPort: s.Port, Protocol: corev1.ProtocolTCP}},
		Env:            env,
		LivenessProbe:  livenessProbe(s.CustomLivenessProbe),
		ReadinessProbe: probeOr(s.CustomReadinessProbe, execProbe([]string{"sh", readinessDir + "/" + readyScript}, 5, 5, 5, 3)),
		StartupProbe:   probeOr(s.CustomStartupProbe, startup),
		Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{
			Command: []string{"sh", shutdownDir + "/" + shutdownScript}}}},
		Resources:       *s.Resources.DeepCopy(),
		SecurityContext: s.ContainerSecurityContext.DeepCopy(),
		VolumeMounts:    append(mounts, extraMounts(&s.PodSettings)...),
	}
}

package hooks

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// sentinelDeployment renders the sentinel pods. Sentinel rewrites its configuration file, so an
// init container copies sentinel.conf (and, with auth, the password lines) to an emptyDir.
func (r *renderer) sentinelDeployment() *Deployment {
	s := &r.rf.Spec.Sentinel
	zero, one := intstr.FromInt32(0), intstr.FromInt32(1)
	return &Deployment{APIVersion: "apps/v1", Kind: "Deployment",
		Metadata: r.meta(sentinelName(r.name()), ComponentSentinel, nil),
		Spec: DeploymentSpec{
			Replicas: ptr(s.Replicas),
			Selector: &metav1.LabelSelector{MatchLabels: SelectorLabels(r.name(), ComponentSentinel)},
			// Replace one sentinel at a time and never run more than asked: the quorum is
			// computed from the replica count.
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: &one, MaxSurge: &zero}},
			Template: PodTemplate{
				Metadata: TemplateMeta{Labels: childLabels(r.rf, r.whitelist, ComponentSentinel),
					Annotations: merged(s.PodAnnotations)},
				Spec: r.sentinelPodSpec(),
			},
		}}
}

func (r *renderer) sentinelPodSpec() corev1.PodSpec {
	s := &r.rf.Spec.Sentinel
	spec := podSpec(&s.PodSettings, DefaultGracePeriod)
	vols := []corev1.Volume{
		configMapVolume("sentinel-config", sentinelName(r.name())),
		emptyDirVolume("sentinel-config-writable", nil),
	}
	// cat, not cp: cp would give the copy the ConfigMap file's read-only mode (0444), and
	// Sentinel refuses to start on a config file it cannot rewrite (seen on real pods).
	copyCmd := "cat " + redisConfigDir + "/" + sentinelConfFile + " > " + sentinelWritable + "/" + sentinelConfFile
	copyMounts := []corev1.VolumeMount{
		{Name: "sentinel-config", MountPath: redisConfigDir, ReadOnly: true},
		{Name: "sentinel-config-writable", MountPath: sentinelWritable},
	}
	if r.auth {
		vols = append(vols, secretVolume("redis-auth", authName(r.name())))
		copyCmd = "cat " + redisConfigDir + "/" + sentinelConfFile + " " + authDir + "/" + authSentinelFile +
			" > " + sentinelWritable + "/" + sentinelConfFile
		copyMounts = append(copyMounts, corev1.VolumeMount{Name: "redis-auth", MountPath: authDir, ReadOnly: true})
	}
	if s.StartupConfigMap != "" {
		vols = append(vols, configMapVolume("sentinel-startup", s.StartupConfigMap))
	}
	spec.Volumes = append(vols, extraVolumes(&s.PodSettings)...)
	spec.InitContainers = append([]corev1.Container{{
		Name: "sentinel-config-copy", Image: s.Image, ImagePullPolicy: s.ImagePullPolicy,
		Command:         []string{"sh", "-c", copyCmd},
		VolumeMounts:    copyMounts,
		SecurityContext: s.ConfigCopy.ContainerSecurityContext.DeepCopy(),
		Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
			corev1.ResourceCPU: mustQuantity("10m"), corev1.ResourceMemory: mustQuantity("32Mi")}},
	}}, withEnv(s.InitContainers, nil)...)
	spec.Containers = append([]corev1.Container{r.sentinelContainer()}, withEnv(s.ExtraContainers, nil)...)
	if s.Exporter.Enabled {
		// Variables for both exporters users run: redis_exporter (spotahome's default image:
		// REDIS_ADDR, REDIS_PASSWORD, and the listen address, 9121 otherwise) and
		// redis_sentinel_exporter (spotahome's example: SENTINEL_ADDR, SENTINEL_PASSWORD; it
		// listens on 9355 by default).
		sentinelAddr := fmt.Sprintf("redis://127.0.0.1:%d", SentinelPort)
		env := append([]corev1.EnvVar{
			{Name: "REDIS_ADDR", Value: sentinelAddr},
			{Name: "REDIS_EXPORTER_WEB_LISTEN_ADDRESS", Value: fmt.Sprintf("0.0.0.0:%d", SentinelExporterPort)},
			{Name: "SENTINEL_ADDR", Value: sentinelAddr},
		}, r.sentinelPasswordEnv("REDIS_PASSWORD", "SENTINEL_PASSWORD")...)
		spec.Containers = append(spec.Containers,
			exporterContainer("sentinel-exporter", &s.Exporter, SentinelExporterPort, env))
	}
	return spec
}

func (r *renderer) sentinelContainer() corev1.Container {
	s := &r.rf.Spec.Sentinel
	mounts := []corev1.VolumeMount{{Name: "sentinel-config-writable", MountPath: redisConfigDir}}
	var startup *corev1.Probe
	if s.StartupConfigMap != "" {
		mounts = append(mounts, corev1.VolumeMount{Name: "sentinel-startup", MountPath: sentinelStartup, ReadOnly: true})
		startup = execProbe([]string{"sh", sentinelStartup + "/" + startupScript}, 0, 5, 5, 60)
	}
	env := append([]corev1.EnvVar{podIPEnv()}, r.sentinelPasswordEnv("REDISCLI_AUTH")...)
	// Ready once it monitors a real master, not the boot placeholder (clients that ask a
	// not-ready sentinel would be sent to 127.0.0.1), and knows quorum - 1 other sentinels
	// (known ones count even while down): a new sentinel learns its peers from their hello
	// messages within seconds, and until then a failover could not be authorized with it. The
	// Deployment replaces the next old sentinel only once the new one is Ready, so a rollout
	// never leaves fewer sentinels that know each other than the quorum.
	ready := redisCli(ownHost, SentinelPort, "--raw sentinel get-master-addr-by-name "+r.masterName()) +
		" | head -n 1 | grep -Evq '^(" + placeholder.Host + ")?$'"
	if peers := quorum(r.rf.Spec.Sentinel.Replicas) - 1; peers > 0 {
		ready += fmt.Sprintf(` && [ "$(%s | grep -cx name)" -ge %d ]`,
			redisCli(ownHost, SentinelPort, "--raw sentinel sentinels "+r.masterName()), peers)
	}
	return corev1.Container{
		Name: "sentinel", Image: s.Image, ImagePullPolicy: s.ImagePullPolicy,
		Command: append([]string(nil), s.Command...),
		Ports: []corev1.ContainerPort{{Name: sentinelPortLabel, ContainerPort: SentinelPort,
			Protocol: corev1.ProtocolTCP}},
		Env:             env,
		LivenessProbe:   probeOr(s.CustomLivenessProbe, shellProbe(redisCli(ownHost, SentinelPort, "ping")+" | grep -q PONG", 30, 10, 5, 6)),
		ReadinessProbe:  probeOr(s.CustomReadinessProbe, shellProbe(ready, 5, 5, 5, 3)),
		StartupProbe:    probeOr(s.CustomStartupProbe, startup),
		Resources:       *s.Resources.DeepCopy(),
		SecurityContext: s.ContainerSecurityContext.DeepCopy(),
		VolumeMounts:    append(mounts, extraMounts(&s.PodSettings)...),
	}
}

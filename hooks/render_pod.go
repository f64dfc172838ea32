package hooks

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Pieces shared by the redis and sentinel pod templates.

func configMapVolume(name, configMap string) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{
		ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: configMap},
			DefaultMode:          ptr(int32(0o444)),
		}}}
}

func secretVolume(name, secret string) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{
		Secret: &corev1.SecretVolumeSource{SecretName: secret, DefaultMode: ptr(int32(0o440))}}}
}

func emptyDirVolume(name string, src *corev1.EmptyDirVolumeSource) corev1.Volume {
	if src == nil {
		src = &corev1.EmptyDirVolumeSource{}
	}
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: src.DeepCopy()}}
}

// execProbe runs argv; shellProbe runs a shell command line.
func execProbe(argv []string, initialDelay, period, timeout, failures int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler:        corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: argv}},
		InitialDelaySeconds: initialDelay, PeriodSeconds: period, TimeoutSeconds: timeout,
		FailureThreshold: failures, SuccessThreshold: 1,
	}
}

func shellProbe(command string, initialDelay, period, timeout, failures int32) *corev1.Probe {
	return execProbe([]string{"sh", "-c", command}, initialDelay, period, timeout, failures)
}

// livenessProbe is the user's probe, else a ping. LOADING counts as alive: a large dataset being
// loaded must not restart the pod.
func livenessProbe(custom *corev1.Probe) *corev1.Probe {
	return probeOr(custom, shellProbe(
		redisCli(ownHost, "\"$REDIS_PORT\"", "ping")+" | grep -Eq 'PONG|LOADING'", 30, 10, 5, 6))
}

// probeOr returns the user's probe when set, else the default.
func probeOr(custom, def *corev1.Probe) *corev1.Probe {
	if custom != nil {
		return custom.DeepCopy()
	}
	return def
}

// passwordEnv reads the password from the user's Secret, for redis-cli (REDISCLI_AUTH keeps it
// out of the process list) and for sidecars (REDIS_PASSWORD).
func (r *renderer) passwordEnv(names ...string) []corev1.EnvVar {
	if !r.auth {
		return nil
	}
	return secretEnv(r.rf.Spec.Auth.SecretPath, names...)
}

// secretEnv sets every variable of names to the password key of the user's Secret secret.
func secretEnv(secret string, names ...string) []corev1.EnvVar {
	out := make([]corev1.EnvVar, 0, len(names))
	for _, n := range names {
		out = append(out, corev1.EnvVar{Name: n, ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: secret},
				Key:                  authPasswordKey,
			}}})
	}
	return out
}

// sentinelPasswordEnv is passwordEnv for what talks to a sentinel: only when the sentinels
// require the password (redis-cli would otherwise send an AUTH that a sentinel without
// requirepass answers with an error).
func (r *renderer) sentinelPasswordEnv(names ...string) []corev1.EnvVar {
	if !r.sentinelAuth {
		return nil
	}
	return r.passwordEnv(names...)
}

func podIPEnv() corev1.EnvVar {
	return corev1.EnvVar{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{
		FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}}
}

// withEnv returns the containers with env added where the container does not set the name
// itself (init and extra containers receive REDIS_ADDR, REDIS_PORT, REDIS_USER, REDIS_PASSWORD).
func withEnv(cs []corev1.Container, env []corev1.EnvVar) []corev1.Container {
	out := make([]corev1.Container, len(cs))
	for i := range cs {
		c := *cs[i].DeepCopy()
		c.Env = mergeEnv(env, c.Env)
		out[i] = c
	}
	return out
}

// mergeEnv returns ours, less the names the user sets, followed by the user's variables.
func mergeEnv(ours, user []corev1.EnvVar) []corev1.EnvVar {
	have := make(map[string]bool, len(user))
	for _, e := range user {
		have[e.Name] = true
	}
	var out []corev1.EnvVar
	for _, e := range ours {
		if !have[e.Name] {
			out = append(out, *e.DeepCopy())
		}
	}
	return append(out, deepCopyEnv(user)...)
}

// exporterContainer renders a metrics sidecar. Its container port is named "metrics" and the
// Services' port metricsPortName, as in spotahome. env starts with REDIS_ALIAS (the pod name, the
// exporter's instance label), as spotahome's did; the user's variables win.
func exporterContainer(name string, e *Exporter, port int32, env []corev1.EnvVar) corev1.Container {
	alias := corev1.EnvVar{Name: "REDIS_ALIAS", ValueFrom: &corev1.EnvVarSource{
		FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}
	c := corev1.Container{
		Name: name, Image: e.Image, ImagePullPolicy: e.ImagePullPolicy,
		Args:            append([]string(nil), e.Args...),
		Env:             mergeEnv(append([]corev1.EnvVar{alias}, env...), e.Env),
		Ports:           []corev1.ContainerPort{{Name: "metrics", ContainerPort: port, Protocol: corev1.ProtocolTCP}},
		SecurityContext: e.ContainerSecurityContext.DeepCopy(),
	}
	if e.Resources != nil {
		c.Resources = *e.Resources.DeepCopy()
	}
	return c
}

// metricsPortName is spotahome's name of the exporter port on the Services, which
// ServiceMonitors select.
const metricsPortName = "http-metrics"

func deepCopyEnv(env []corev1.EnvVar) []corev1.EnvVar {
	out := make([]corev1.EnvVar, len(env))
	for i := range env {
		out[i] = *env[i].DeepCopy()
	}
	return out
}

// podSpec fills the pod-level pass-through fields shared by redis and sentinel.
func podSpec(p *PodSettings, grace int64) corev1.PodSpec {
	spec := corev1.PodSpec{
		ServiceAccountName:            p.ServiceAccountName,
		PriorityClassName:             p.PriorityClassName,
		HostNetwork:                   p.HostNetwork,
		DNSPolicy:                     p.DNSPolicy,
		Affinity:                      p.Affinity.DeepCopy(),
		NodeSelector:                  merged(p.NodeSelector),
		SecurityContext:               p.SecurityContext.DeepCopy(),
		TerminationGracePeriodSeconds: ptr(grace),
		// Service links (on by default, as in spotahome) give scripts such as spotahome's
		// custom-shutdown example RFS_NAME_SERVICE_HOST/PORT. A Service named "redis" would also
		// inject REDIS_PORT=tcp://…: redhook sets REDIS_PORT itself wherever it reads it, and
		// a container's own variables win over the service links.
		EnableServiceLinks: copyPtr(p.EnableServiceLinks),
	}
	// Redis and Sentinel never call the Kubernetes API; mount a token only for a user's account.
	if p.ServiceAccountName == "" {
		spec.AutomountServiceAccountToken = ptr(false)
	}
	for i := range p.Tolerations {
		spec.Tolerations = append(spec.Tolerations, *p.Tolerations[i].DeepCopy())
	}
	for i := range p.TopologySpreadConstraints {
		spec.TopologySpreadConstraints = append(spec.TopologySpreadConstraints, *p.TopologySpreadConstraints[i].DeepCopy())
	}
	spec.ImagePullSecrets = append(spec.ImagePullSecrets, p.ImagePullSecrets...)
	return spec
}

func extraVolumes(p *PodSettings) []corev1.Volume {
	out := make([]corev1.Volume, len(p.ExtraVolumes))
	for i := range p.ExtraVolumes {
		out[i] = *p.ExtraVolumes[i].DeepCopy()
	}
	return out
}

func extraMounts(p *PodSettings) []corev1.VolumeMount {
	out := make([]corev1.VolumeMount, len(p.ExtraVolumeMounts))
	for i := range p.ExtraVolumeMounts {
		out[i] = *p.ExtraVolumeMounts[i].DeepCopy()
	}
	return out
}

func tcpPort(name string, port int32) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Port: port, TargetPort: intstr.FromInt32(port),
		Protocol: corev1.ProtocolTCP}
}

// ownHost is the address a probe reaches its own container at: loopback in a pod; REDIS_HOST
// lets `redhook local`, where every pod has its own 127.0.x.y, run the same commands.
const ownHost = `"${REDIS_HOST:-127.0.0.1}"`

func redisCli(host string, port any, args string) string {
	return fmt.Sprintf(`redis-cli -h %s -p %v %s`, host, port, args)
}

// copyPtr returns a new pointer to *p, or nil: rendered children share nothing with the spec.
func copyPtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	return ptr(*p)
}

func mustQuantity(s string) resource.Quantity { return resource.MustParse(s) }

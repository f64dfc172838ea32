package hooks

import (
	"fmt"
	"net"
	pathpkg "path"
	"regexp"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// FieldError is one problem of a spec, with the path of the field at fault.
type FieldError struct {
	Path    string
	Message string
}

func (e FieldError) Error() string { return e.Path + ": " + e.Message }

// FieldErrors is every problem of a spec, grouped by section of the spec.
type FieldErrors []FieldError

func (es FieldErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "; ")
}

// errs collects field errors.
type errs struct{ list FieldErrors }

func (e *errs) add(path, format string, args ...any) {
	e.list = append(e.list, FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
}

// managedRedisOptions are redis.conf options redhook renders itself: a customConfig entry for
// one of them would break replication, auth or the pod layout.
var managedRedisOptions = map[string]string{
	"port": "", "bind": "", "bind-source-addr": "", "dir": "", "daemonize": "", "pidfile": "",
	"logfile": "", "include": "", "replicaof": "", "slaveof": "", "requirepass": "",
	"masterauth": "", "masteruser": "", "rename-command": "use spec.redis.customCommandRenames",
	"protected-mode": "", "replica-announce-ip": "", "slave-announce-ip": "",
	"replica-announce-port": "", "slave-announce-port": "", "aclfile": "", "user": "",
	"unixsocket": "", "supervised": "", "sentinel": "",
	"cluster-enabled": "redis.conf has replicaof, which Redis refuses in cluster mode",
}

// sentinelOptions are the per-master Sentinel settings a user may set (SENTINEL SET options).
// The others are managed (monitor, auth-pass, quorum) or unsafe to change at runtime (scripts).
var sentinelOptions = map[string]bool{
	"down-after-milliseconds": true, "failover-timeout": true, "parallel-syncs": true,
	"master-reboot-down-after-period": true,
}

// essentialCommands cannot be renamed or disabled, with the reason shown to the user. Listed in
// docs/api.md; keep both in step.
var essentialCommands = map[string]string{
	// Replication: a replica sends these to its master.
	"PSYNC": "replication", "SYNC": "replication", "REPLCONF": "replication",
	// Sentinel: monitoring, hello messages over pub/sub, and the failover transaction
	// (MULTI, REPLICAOF/SLAVEOF, CONFIG REWRITE, CLIENT KILL, EXEC; SCRIPT KILL when busy).
	"PING": "Sentinel, the healer and the liveness probe", "INFO": "Sentinel, the healer and the readiness and preStop scripts",
	"ROLE": "the healer", "REPLICAOF": "Sentinel and the healer", "SLAVEOF": "Sentinel",
	"CONFIG": "Sentinel and the healer", "CLIENT": "Sentinel and the healer's client",
	"MULTI": "Sentinel", "EXEC": "Sentinel", "PUBLISH": "Sentinel", "SUBSCRIBE": "Sentinel",
	"SCRIPT": "Sentinel", "AUTH": "Sentinel, the healer and redis-cli", "HELLO": "the healer's client",
	"WAIT": "clients that confirm writes on a replica", "SAVE": "the preStop script",
}

// reservedVolumes and reservedContainers are names redhook gives to its own volumes and
// containers in the pods; user entries with these names would clash.
var (
	reservedVolumes = map[string]bool{
		"redis-config": true, "redis-readiness": true, "redis-shutdown": true, "redis-auth": true,
		"redis-startup": true, "sentinel-config": true, "sentinel-config-writable": true,
		"sentinel-startup": true,
	}
	reservedContainers = map[string]bool{
		"redis": true, "sentinel": true, "redis-exporter": true, "sentinel-exporter": true,
		"sentinel-config-copy": true,
	}
	commandName  = regexp.MustCompile(`^[A-Za-z0-9_|.-]+$`)
	configKey    = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)
	masterNameRe = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
)

// Validate returns every problem of rf's spec with its field path. It never changes rf. An
// empty result means Sync can render the children.
func Validate(rf *RedisFailover) FieldErrors {
	var e errs
	validateName(&e, rf.Name)
	validateRollout(&e, rf)
	s := &rf.Spec
	validatePod(&e, "spec.redis", &s.Redis.PodSettings, redisReserved(s), redisMountPaths(s))
	validatePod(&e, "spec.sentinel", &s.Sentinel.PodSettings, nil, sentinelMountPaths(s))
	validateRedisConfig(&e, "spec.redis.customConfig", s.Redis.CustomConfig, true)
	validateRedisConfig(&e, "spec.redis.customConfigUnchecked", s.Redis.CustomConfigUnchecked, false)
	validateSentinelConfig(&e, s.Sentinel.CustomConfig)
	validateRenames(&e, s.Redis.CustomCommandRenames)
	if s.Redis.Port < 0 || s.Redis.Port > 65535 || s.Redis.Port == SentinelPort {
		e.add("spec.redis.port", "%d is not a usable port (1-65535, not %d)", s.Redis.Port, SentinelPort)
	}
	if s.Redis.TerminationGracePeriod < 0 {
		e.add("spec.redis.terminationGracePeriod", "must not be negative")
	}
	if n := s.Sentinel.MasterName; n != "" && !masterNameRe.MatchString(n) {
		e.add("spec.sentinel.masterName", "%q: only letters, digits, '.', '_' and '-'", n)
	}
	if p := s.Auth.SecretPath; p != "" {
		for _, msg := range validation.IsDNS1123Subdomain(p) {
			e.add("spec.auth.secretPath", "%q: %s", p, msg)
		}
	} else if s.Auth.Sentinel {
		// Without a password the sentinels would be open while the spec says they are not.
		e.add("spec.auth.sentinel", "requires spec.auth.secretPath (the password the sentinels would require)")
	}
	for i, expr := range s.LabelWhitelist {
		if _, err := regexp.Compile(expr); err != nil {
			e.add(fmt.Sprintf("spec.labelWhitelist[%d]", i), "%q is not a regular expression: %v", expr, err)
		}
	}
	validateStorage(&e, "spec.redis.storage", &s.Redis.Storage)
	validateSentinelless(&e, rf)
	if b := s.BootstrapNode; b != nil {
		validateBootstrap(&e, b)
	}
	return e.list
}

func validateName(e *errs, name string) {
	validateParentName(e, name, MaxNameLength, readinessName(name), 63)
}

// validateParentName checks a parent's name: a DNS label of at most max characters, so that its
// longest child name, longest, fits in limit.
func validateParentName(e *errs, name string, max int, longest string, limit int) {
	if name == "" {
		e.add("metadata.name", "must be set")
		return
	}
	if len(name) > max {
		e.add("metadata.name", "%q is %d characters; at most %d, so that child names such as %q fit in %d",
			name, len(name), max, longest, limit)
	}
	for _, msg := range validation.IsDNS1035Label(name) {
		if !strings.Contains(msg, "63") { // the length is reported above with the real limit
			e.add("metadata.name", "%q: %s", name, msg)
		}
	}
}

// redisReserved lists the volume names the redis pod uses besides the fixed ones.
func redisReserved(s *RedisFailoverSpec) map[string]bool {
	name := DefaultDataVolume
	if pvc := s.Redis.Storage.PersistentVolumeClaim; pvc != nil && pvc.Name != "" {
		name = pvc.Name
	}
	return map[string]bool{name: true}
}

// redisMountPaths and sentinelMountPaths are the paths redhook mounts in the redis and
// sentinel containers for this spec; an extra volume mount at one of them is refused by the
// API server.
func redisMountPaths(s *RedisFailoverSpec) map[string]bool {
	paths := map[string]bool{redisConfigDir: true, readinessDir: true, shutdownDir: true, dataDir: true}
	if s.Auth.SecretPath != "" {
		paths[authDir] = true
	}
	if s.Redis.StartupConfigMap != "" {
		paths[redisStartupDir] = true
	}
	return paths
}

func sentinelMountPaths(s *RedisFailoverSpec) map[string]bool {
	paths := map[string]bool{redisConfigDir: true}
	if s.Sentinel.StartupConfigMap != "" {
		paths[sentinelStartup] = true
	}
	return paths
}

// validateImage: the API server refuses an image with leading or trailing blanks; required
// means the image has no default.
func validateImage(e *errs, path, image string, required bool) {
	switch {
	case strings.TrimSpace(image) == "" && (image != "" || required):
		e.add(path, "must be set (not blank)")
	case strings.TrimSpace(image) != image:
		e.add(path, "%q: must not have leading or trailing blanks", image)
	}
}

func validatePod(e *errs, path string, p *PodSettings, extraVolumes, ourMounts map[string]bool) {
	if p.Replicas < 0 {
		e.add(path+".replicas", "%d: must be at least 1 (0 means the default, %d)", p.Replicas, DefaultReplicas)
	}
	validatePullPolicy(e, path+".imagePullPolicy", p.ImagePullPolicy)
	validatePullPolicy(e, path+".exporter.imagePullPolicy", p.Exporter.ImagePullPolicy)
	switch p.DNSPolicy {
	case "", corev1.DNSClusterFirst, corev1.DNSClusterFirstWithHostNet, corev1.DNSDefault, corev1.DNSNone:
	default:
		e.add(path+".dnsPolicy", "%q: one of ClusterFirst, ClusterFirstWithHostNet, Default, None", p.DNSPolicy)
	}
	for i, c := range p.Command {
		if c == "" {
			e.add(fmt.Sprintf("%s.command[%d]", path, i), "must not be empty")
		}
	}
	validateImage(e, path+".image", p.Image, false)
	validateImage(e, path+".exporter.image", p.Exporter.Image, false)
	volumes := map[string]string{}
	for i, v := range p.ExtraVolumes {
		vpath := fmt.Sprintf("%s.extraVolumes[%d].name", path, i)
		switch {
		case reservedVolumes[v.Name] || extraVolumes[v.Name]:
			e.add(vpath, "%q is the name of a volume redhook adds", v.Name)
		case volumes[v.Name] != "":
			e.add(vpath, "%q is also the name of %s", v.Name, volumes[v.Name])
		default:
			volumes[v.Name] = fmt.Sprintf("%s.extraVolumes[%d]", path, i)
		}
	}
	validateMounts(e, path+".extraVolumeMounts", p.ExtraVolumeMounts, ourMounts)
	// Init and regular containers share one name space in a pod.
	containers := map[string]string{}
	for _, list := range []struct {
		field string
		cs    []corev1.Container
	}{{"initContainers", p.InitContainers}, {"extraContainers", p.ExtraContainers}} {
		for i, c := range list.cs {
			cpath := fmt.Sprintf("%s.%s[%d]", path, list.field, i)
			switch {
			case reservedContainers[c.Name]:
				e.add(cpath+".name", "%q is the name of a container redhook adds", c.Name)
			case containers[c.Name] != "":
				e.add(cpath+".name", "%q is also the name of %s", c.Name, containers[c.Name])
			default:
				for _, msg := range validation.IsDNS1123Label(c.Name) {
					e.add(cpath+".name", "%q: %s", c.Name, msg)
				}
				containers[c.Name] = cpath
			}
			validateImage(e, cpath+".image", c.Image, true)
			validateMounts(e, cpath+".volumeMounts", c.VolumeMounts, nil)
		}
	}
}

// validateMounts: two mounts at one path in a container are refused by the API server.
func validateMounts(e *errs, path string, mounts []corev1.VolumeMount, ours map[string]bool) {
	seen := map[string]int{}
	for i, m := range mounts {
		mpath := fmt.Sprintf("%s[%d].mountPath", path, i)
		p := m.MountPath
		if p != "" {
			p = pathpkg.Clean(p)
		}
		if first, dup := seen[p]; dup {
			e.add(mpath, "%q is also the mountPath of %s[%d]", m.MountPath, path, first)
			continue
		}
		seen[p] = i
		if ours[p] {
			e.add(mpath, "%q is a path redhook mounts in this container", m.MountPath)
		}
	}
}

func validatePullPolicy(e *errs, path string, p corev1.PullPolicy) {
	switch p {
	case "", corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		e.add(path, "%q: one of Always, IfNotPresent, Never", p)
	}
}

// validateConfigLine checks what every customConfig entry needs: a key, a value, one line.
func validateConfigLine(e *errs, path, line string) (key string, ok bool) {
	if strings.ContainsAny(line, "\r\n\x00") {
		e.add(path, "must be a single line")
		return "", false
	}
	key, value := splitConfig(line)
	if !configKey.MatchString(key) {
		e.add(path, "%q: want \"option value\"", line)
		return "", false
	}
	if value == "" {
		e.add(path, "%q has no value", key)
		return "", false
	}
	return key, true
}

// validateRedisConfig checks customConfig lines: one line each, quotes balanced as Redis reads
// them, not an option redhook manages, and, when checked, an option of Redis 7.0 with a value it
// accepts (redisOptions). customConfigUnchecked lines skip only the last check.
func validateRedisConfig(e *errs, field string, lines []string, checked bool) {
	validateConfigLines(e, field, lines, checked, managedRedisOptions)
}

// validateConfigLines is validateRedisConfig with the options the parent's kind manages.
func validateConfigLines(e *errs, field string, lines []string, checked bool, managedRedisOptions map[string]string) {
	for i, line := range lines {
		path := fmt.Sprintf("%s[%d]", field, i)
		key, ok := validateConfigLine(e, path, line)
		if !ok {
			continue
		}
		if hint, managed := managedRedisOptions[key]; managed {
			if hint != "" {
				e.add(path, "%q is managed by redhook; %s", key, hint)
			} else {
				e.add(path, "%q is managed by redhook", key)
			}
			continue
		}
		args, err := splitArgs(line)
		if err != nil {
			e.add(path, "%q: %v (Redis would stop at boot)", line, err)
			continue
		}
		if !checked {
			continue
		}
		opt, known := redisOptions[key]
		if !known {
			e.add(path, "%q is not a Redis 7.0 option (Redis would stop at boot); if your Redis knows it, "+
				"move the line to spec.redis.customConfigUnchecked", key)
			continue
		}
		if err := checkRedisValue(opt, args[1:]); err != nil {
			e.add(path, "%q: %v (Redis would stop at boot)", key, err)
		}
	}
}

func validateSentinelConfig(e *errs, lines []string) {
	for i, line := range lines {
		path := fmt.Sprintf("spec.sentinel.customConfig[%d]", i)
		key, ok := validateConfigLine(e, path, line)
		if !ok {
			continue
		}
		if !sentinelOptions[key] {
			e.add(path, "%q is not a per-master Sentinel option redhook sets; use one of "+
				"down-after-milliseconds, failover-timeout, parallel-syncs, master-reboot-down-after-period", key)
			continue
		}
		// Sentinel reads these with atoi (an int) and SENTINEL SET, which the healer uses, refuses
		// 0 for all but master-reboot-down-after-period.
		_, value := splitConfig(line)
		least := int64(1)
		if key == "master-reboot-down-after-period" {
			least = 0
		}
		if n, err := strconv.ParseInt(value, 10, 64); err != nil || n < least || n > maxInt32 {
			e.add(path, "%q: the value %q is not an integer from %d to %d", key, value, least, int64(maxInt32))
		}
	}
}

func validateRenames(e *errs, renames []RedisCommandRename) {
	from, to := map[string]int{}, map[string]int{}
	for i, r := range renames {
		path := fmt.Sprintf("spec.redis.customCommandRenames[%d]", i)
		name := strings.ToUpper(r.From)
		switch j, dup := from[name]; {
		case !commandName.MatchString(r.From):
			e.add(path+".from", "%q: a command name (letters, digits, '_', '-', '|', '.')", r.From)
		case dup:
			e.add(path+".from", "%q is renamed by customCommandRenames[%d] already (Redis would stop at boot)", r.From, j)
		case !redisCommands[name]:
			e.add(path+".from", "%q is not a Redis 7.0 command (Redis would stop at boot)", r.From)
		case essentialCommands[name] != "":
			e.add(path+".from", "%q is needed by %s and cannot be renamed", r.From, essentialCommands[name])
		default:
			from[name] = i
		}
		if r.To == "" {
			continue
		}
		target := strings.ToUpper(r.To)
		switch j, dup := to[target]; {
		case !commandName.MatchString(r.To):
			e.add(path+".to", "%q: a command name (letters, digits, '_', '-', '|', '.'), or empty to disable the command", r.To)
		case redisCommands[target]:
			e.add(path+".to", "%q is the name of a Redis command (Redis would stop at boot)", r.To)
		case dup:
			e.add(path+".to", "%q is the new name in customCommandRenames[%d] already (Redis would stop at boot)", r.To, j)
		default:
			to[target] = i
		}
	}
}

func validateStorage(e *errs, path string, s *RedisStorage) {
	pvc := s.PersistentVolumeClaim
	if pvc == nil {
		return
	}
	sizePath := path + ".persistentVolumeClaim.spec.resources.requests.storage"
	if size, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; !ok {
		e.add(sizePath, "must be set: a claim without a size is never created")
	} else if size.Sign() <= 0 {
		e.add(sizePath, "%s: must be greater than zero", size.String())
	}
	if pvc.Name == "" {
		return
	}
	for _, msg := range validation.IsDNS1123Label(pvc.Name) {
		e.add(path+".persistentVolumeClaim.metadata.name", "%q: %s", pvc.Name, msg)
	}
	if reservedVolumes[pvc.Name] {
		e.add(path+".persistentVolumeClaim.metadata.name", "%q is the name of a volume redhook adds", pvc.Name)
	}
}

func validateBootstrap(e *errs, b *BootstrapSettings) {
	ip := net.ParseIP(b.Host)
	switch {
	case b.Host == "":
		e.add("spec.bootstrapNode.host", "must be set when bootstrapNode is set")
	case ip == nil && len(validation.IsDNS1123Subdomain(b.Host)) > 0:
		e.add("spec.bootstrapNode.host", "%q is neither an IP address nor a DNS name", b.Host)
	case ip != nil && (ip.IsLoopback() || ip.IsUnspecified() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast()):
		// The same four ranges the API server refuses in an EndpointSlice (the master slice
		// points at the bootstrap node). Loopback in a redis pod is that pod itself.
		e.add("spec.bootstrapNode.host", "%q is a loopback, link-local or unspecified address: in a pod it is the pod itself "+
			"or not routable, and the API server refuses it in the master EndpointSlice; give the node's routable address or DNS name", b.Host)
	}
	if b.Port != "" {
		if n, err := strconv.Atoi(string(b.Port)); err != nil || n < 1 || n > 65535 {
			e.add("spec.bootstrapNode.port", "%q is not a port number (1-65535)", b.Port)
		}
	}
}

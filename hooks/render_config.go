package hooks

import (
	"fmt"
	"net"
	"strings"
)

// Paths inside the pods.
const (
	redisConfigDir    = "/redis"
	readinessDir      = "/redis-readiness"
	shutdownDir       = "/redis-shutdown"
	authDir           = "/redis-auth"
	redisStartupDir   = "/redis-startup"
	sentinelStartup   = "/sentinel-startup"
	sentinelWritable  = "/redis-writable"
	dataDir           = "/data"
	redisConfFile     = "redis.conf"
	sentinelConfFile  = "sentinel.conf"
	readyScript       = "ready.sh"
	shutdownScript    = "shutdown.sh"
	startupScript     = "startup.sh"
	authRedisFile     = "redis.conf"
	authSentinelFile  = "sentinel.conf"
	authPasswordKey   = "password"
	anyAddress        = "* -::*"
	sentinelPortLabel = "sentinel"
)

// redisConfigMap holds redis.conf. It never contains a secret: with auth on, it includes the
// auth file mounted from the rfr-auth Secret.
func (r *renderer) redisConfigMap() *ConfigMap {
	return &ConfigMap{APIVersion: "v1", Kind: "ConfigMap",
		Metadata: r.meta(redisName(r.name()), ComponentRedis, nil),
		Data:     map[string]string{redisConfFile: r.redisConf()}}
}

func (r *renderer) redisConf() string {
	s := &r.rf.Spec
	var b strings.Builder
	fmt.Fprintf(&b, "# redis.conf of RedisFailover %s/%s, rendered by redhook: edits here are overwritten.\n",
		r.namespace(), r.name())
	b.WriteString("# Set spec.redis.customConfig instead; it is rendered below and applied live.\n")
	fmt.Fprintf(&b, "port %d\n", s.Redis.Port)
	fmt.Fprintf(&b, "bind %s\n", anyAddress)
	if r.auth {
		fmt.Fprintf(&b, "include %s/%s\n", authDir, authRedisFile)
	} else {
		// Protected mode refuses clients from other pods when no password is set.
		b.WriteString("protected-mode no\n")
	}
	fmt.Fprintf(&b, "dir %s\n", dataDir)
	b.WriteString("tcp-keepalive 60\n")
	if boot := s.BootstrapNode; boot != nil {
		b.WriteString("# Bootstrapping: replicate the external node; never be elected master.\n")
		fmt.Fprintf(&b, "replicaof %s %s\n", boot.Host, string(boot.Port))
		b.WriteString("replica-priority 0\n")
	} else {
		b.WriteString("# Boot as a replica of an address where nothing answers: only Sentinel or the\n")
		b.WriteString("# healer makes a node master, so a node restarted empty never wipes its replicas.\n")
		fmt.Fprintf(&b, "replicaof %s %d\n", placeholder.Host, placeholder.Port)
	}
	if sentinelless(r.rf) {
		b.WriteString("# Sentinel-less mode (spec.sentinel.enabled: false): the master accepts writes only while a\n")
		b.WriteString("# replica follows it, so that a master cut off from its replicas stops before one is promoted.\n")
		for _, c := range SentinellessConfig(detectionTimeout(r.rf)) {
			fmt.Fprintf(&b, "%s %s\n", c.Key, c.Value)
		}
	}
	for _, rn := range s.Redis.CustomCommandRenames {
		to := rn.To
		if to == "" {
			to = `""`
		}
		fmt.Fprintf(&b, "rename-command %s %s\n", rn.From, to)
	}
	if len(s.Redis.CustomConfig) > 0 {
		b.WriteString("# spec.redis.customConfig\n")
		for _, line := range s.Redis.CustomConfig {
			b.WriteString(strings.TrimSpace(line) + "\n")
		}
	}
	if len(s.Redis.CustomConfigUnchecked) > 0 {
		b.WriteString("# spec.redis.customConfigUnchecked: not checked by redhook, read at start only\n")
		for _, line := range s.Redis.CustomConfigUnchecked {
			b.WriteString(strings.TrimSpace(line) + "\n")
		}
	}
	return b.String()
}

// sentinelConfigMap holds sentinel.conf. Its monitor line names the last known master, so a
// restarted sentinel starts on the right master instead of 127.0.0.1 (spotahome #601).
func (r *renderer) sentinelConfigMap() *ConfigMap {
	return &ConfigMap{APIVersion: "v1", Kind: "ConfigMap",
		Metadata: r.meta(sentinelName(r.name()), ComponentSentinel, nil),
		Data:     map[string]string{sentinelConfFile: r.sentinelConf()}}
}

func (r *renderer) sentinelConf() string {
	s := &r.rf.Spec
	var b strings.Builder
	fmt.Fprintf(&b, "# sentinel.conf of RedisFailover %s/%s, rendered by redhook: edits here are overwritten.\n",
		r.namespace(), r.name())
	fmt.Fprintf(&b, "port %d\n", SentinelPort)
	fmt.Fprintf(&b, "bind %s\n", anyAddress)
	if !r.sentinelAuth {
		// Clients reach the sentinels from other pods; without requirepass, protected mode
		// would refuse them.
		b.WriteString("protected-mode no\n")
	}
	host, port := r.sentinelMaster, s.Redis.Port
	if boot := s.BootstrapNode; boot != nil {
		host = boot.Host
		fmt.Sscan(string(boot.Port), &port) // validated
		if net.ParseIP(host) == nil {
			b.WriteString("sentinel resolve-hostnames yes\n")
		}
	}
	fmt.Fprintf(&b, "sentinel monitor %s %s %d %d\n", r.masterName(), host, port, quorum(s.Sentinel.Replicas))
	for _, line := range s.Sentinel.CustomConfig {
		k, v := splitConfig(line)
		fmt.Fprintf(&b, "sentinel %s %s %s\n", k, r.masterName(), v)
	}
	return b.String()
}

// authSecret holds the password lines that redis.conf includes and that the sentinel's init
// container appends to its writable sentinel.conf. Built from the user's Secret. The sentinels
// always authenticate to redis (auth-pass); they require the password themselves, and send it
// to each other (sentinel-pass), only with spec.auth.sentinel.
func (r *renderer) authSecret() *SecretObject {
	pw := quoteConfig(r.password.Value())
	redis := fmt.Sprintf("requirepass %s\nmasterauth %s\n", pw, pw)
	sentinel := fmt.Sprintf("sentinel auth-pass %s %s\n", r.masterName(), pw)
	if r.sentinelAuth {
		sentinel = fmt.Sprintf("requirepass %s\nsentinel sentinel-pass %s\n", pw, pw) + sentinel
	}
	return &SecretObject{APIVersion: "v1", Kind: "Secret",
		Metadata: r.meta(authName(r.name()), "", nil),
		Type:     "Opaque",
		Data: map[string][]byte{
			authRedisFile:    []byte(redis),
			authSentinelFile: []byte(sentinel),
		}}
}

// quoteConfig quotes a value for redis.conf: double quotes, with backslash, quote and every
// non-printable byte escaped, as Redis's sdssplitargs reads them.
func quoteConfig(v string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\\' || c == '"':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c >= 0x7f:
			fmt.Fprintf(&b, "\\x%02x", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

package hooks

import (
	"fmt"
	"strings"
)

// readinessConfigMap holds ready.sh, the redis readiness probe.
func (r *renderer) readinessConfigMap() *ConfigMap {
	return &ConfigMap{APIVersion: "v1", Kind: "ConfigMap",
		Metadata: r.meta(readinessName(r.name()), ComponentRedis, nil),
		Data:     map[string]string{readyScript: r.readyScript()}}
}

// readyScript: a pod is ready when it is the master, or a replica whose link is up, that is not
// in a full sync and that does not point at the boot placeholder. A node that has not been
// attached yet therefore never receives traffic, and a rollout waits for real replicas.
func (r *renderer) readyScript() string {
	return fmt.Sprintf(`#!/bin/sh
# Readiness of a redis pod of RedisFailover %s/%s, rendered by redhook.
# Ready: the master, or a replica with master_link_status:up, not syncing, and not pointing at
# the boot placeholder %s. REDISCLI_AUTH comes from the pod environment when auth is on.
info=$(redis-cli -h "${REDIS_HOST:-127.0.0.1}" -p "${REDIS_PORT:-%d}" info replication) || exit 1
info=$(printf '%%s\n' "$info" | tr -d '\r')
has() { printf '%%s\n' "$info" | grep -qx "$1"; }
has 'role:master' && exit 0
has 'master_link_status:up' || exit 1
has 'master_sync_in_progress:1' && exit 1
has 'master_host:%s' && exit 1
exit 0
`, r.namespace(), r.name(), placeholder.Host, r.port(), placeholder.Host)
}

// shutdownConfigMap holds shutdown.sh, the redis preStop hook.
func (r *renderer) shutdownConfigMap() *ConfigMap {
	return &ConfigMap{APIVersion: "v1", Kind: "ConfigMap",
		Metadata: r.meta(shutdownName(r.name()), ComponentRedis, nil),
		Data:     map[string]string{shutdownScript: r.shutdownScript()}}
}

// shutdownWait is how long the shutdown script waits for a failover: the grace period minus
// 5 s kept for SAVE (spotahome slept past its grace period, so SAVE never ran: #565).
func (r *renderer) shutdownWait() int64 {
	return max(r.rf.Spec.Redis.TerminationGracePeriod-5, 0)
}

func (r *renderer) shutdownScript() string {
	var b strings.Builder
	fmt.Fprintf(&b, `#!/bin/sh
# preStop of a redis pod of RedisFailover %s/%s, rendered by redhook.
port="${REDIS_PORT:-%d}"
host="${REDIS_HOST:-127.0.0.1}"
`, r.namespace(), r.name(), r.port())
	if r.sentinels() {
		fmt.Fprintf(&b, "sentinel=\"${SENTINEL_HOST:-%s}\"\n", sentinelName(r.name()))
		if r.sentinelAuth {
			fmt.Fprintf(&b, "sentinel_cli() { redis-cli -h \"$sentinel\" -p %d \"$@\"; }\n", SentinelPort)
		} else {
			// REDISCLI_AUTH is redis' password; an AUTH to a sentinel without requirepass fails.
			b.WriteString("# The sentinels require no password (spec.auth.sentinel is off): send them none.\n")
			fmt.Fprintf(&b, "sentinel_cli() { (unset REDISCLI_AUTH; redis-cli -h \"$sentinel\" -p %d \"$@\"); }\n", SentinelPort)
		}
		fmt.Fprintf(&b, `# A master asks Sentinel to fail over and waits, at most %d s (grace period - 5 s), until
# Sentinel names another master, so that clients move before this pod stops.
if redis-cli -h "$host" -p "$port" info replication | tr -d '\r' | grep -qx 'role:master'; then
  sentinel_cli sentinel failover %s
  i=0
  while [ "$i" -lt %d ]; do
    addr=$(sentinel_cli --raw sentinel get-master-addr-by-name %s | head -n 1)
    if [ -n "$addr" ] && [ "$addr" != "${POD_IP:-$host}" ]; then break; fi
    sleep 1
    i=$((i + 1))
  done
fi
`, r.shutdownWait(), r.masterName(), r.shutdownWait(), r.masterName())
	}
	if r.rf.Spec.Redis.Storage.PersistentVolumeClaim != nil {
		b.WriteString("# The data is on a persistent volume: write a fresh snapshot before stopping.\n")
		b.WriteString("redis-cli -h \"$host\" -p \"$port\" save\n")
	}
	b.WriteString("exit 0\n")
	return b.String()
}

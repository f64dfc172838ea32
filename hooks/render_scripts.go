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

// catchUpTenths bounds, in tenths of a second, the shutdown script's wait for the replicas to
// reach the paused master's offset.
const catchUpTenths = 30

// shutdownScript is the preStop hook. With Sentinel, a master hands over before it stops, and
// loses no write, confirmed or not: it pauses writes first (a write that arrives from then on
// waits, and fails with READONLY once the node is a replica: the client retries on the new
// master), lets its replicas catch up, asks Sentinel for the failover, follows the promoted
// replica itself as soon as it is master (Sentinel would convert this node only seconds later,
// and a master left writable after a promotion loses what it acknowledges), then resumes the
// waiting clients.
func (r *renderer) shutdownScript() string {
	var b strings.Builder
	fmt.Fprintf(&b, `#!/bin/sh
# preStop of a redis pod of RedisFailover %s/%s, rendered by redhook.
port="${REDIS_PORT:-%d}"
host="${REDIS_HOST:-127.0.0.1}"
redis_cli() { redis-cli -h "$host" -p "$port" "$@"; }
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
		wait := r.shutdownWait()
		fmt.Fprintf(&b, `# field NAME: the value of NAME in the INFO replication on stdin.
field() { tr -d '\r' | sed -n "s/^$1://p"; }
# A master hands over before it stops, within %[1]d s (the grace period - 5 s), losing no write:
# 1. CLIENT PAUSE WRITE: from now on no write runs here; writing clients wait.
# 2. Every online replica reaches the master's offset (at most %[2]d.%[3]d s).
# 3. SENTINEL FAILOVER, then wait until a replica is master (or Sentinel names another).
# 4. REPLICAOF it: the waiting writes fail with READONLY, and their clients retry on the new
#    master. Sentinel would convert this node only seconds later, and until then it would take
#    writes that no replica keeps.
# 5. CLIENT UNPAUSE (also when no failover happened: the pod stops anyway).
if redis_cli info replication | field role | grep -qx master; then
  redis_cli client pause %[6]d write >/dev/null
  info=$(redis_cli info replication)
  offset=$(printf '%%s\n' "$info" | field master_repl_offset)
  replicas=$(printf '%%s\n' "$info" | tr -d '\r' | sed -n 's/^slave[0-9]*:ip=\([^,]*\),port=\([0-9]*\),state=online,.*/\1 \2/p')
  caught_up() {
    printf '%%s\n' "$replicas" | while read -r ip p; do
      [ -n "$ip" ] || continue
      [ "$(redis-cli -h "$ip" -p "$p" info replication | field slave_repl_offset)" = "$offset" ] || exit 1
    done
  }
  i=0
  while [ "$i" -lt %[4]d ] && ! caught_up; do
    sleep 0.1
    i=$((i + 1))
  done
  reply=$(sentinel_cli sentinel failover %[5]s 2>&1)
  echo "SENTINEL FAILOVER: $reply"
  case $reply in
  OK*|*INPROG*)
    i=0
    new=""
    while [ "$i" -lt %[7]d ] && [ -z "$new" ]; do
      new=$(printf '%%s\n' "$replicas" | while read -r ip p; do
        [ -n "$ip" ] || continue
        if redis-cli -h "$ip" -p "$p" info replication | field role | grep -qx master; then
          echo "$ip $p"
          break
        fi
      done)
      if [ -z "$new" ]; then
        addr=$(sentinel_cli --raw sentinel get-master-addr-by-name %[5]s | tr '\n' ' ')
        case $addr in
        "${POD_IP:-$host} "*|" "*|"") ;;
        *) new=$addr ;;
        esac
        sleep 0.1
      fi
      i=$((i + 1))
    done
    echo "new master: ${new:-none after %[1]d s}"
    if [ -n "$new" ]; then
      # $new is "host port": split on purpose.
      redis_cli replicaof $new >/dev/null
    fi
    ;;
  esac
  redis_cli client unpause >/dev/null
fi
`, wait, catchUpTenths/10, catchUpTenths%10, catchUpTenths, r.masterName(), wait*1000, wait*10)
	}
	if r.rf.Spec.Redis.Storage.PersistentVolumeClaim != nil {
		b.WriteString("# The data is on a persistent volume: write a fresh snapshot before stopping.\n")
		b.WriteString("redis_cli save\n")
	}
	b.WriteString("exit 0\n")
	return b.String()
}

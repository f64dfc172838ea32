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

// catchUpSeconds bounds the shutdown script's wait for the replicas to reach the paused
// master's offset.
const catchUpSeconds = 3

// shutdownScript is the preStop hook. With Sentinel, a master hands over before it stops, and
// loses no write, confirmed or not: it pauses writes first (a write that arrives from then on
// waits, and fails with READONLY once the node is a replica: the client retries on the new
// master), lets its replicas catch up, asks Sentinel for the failover, follows the promoted
// replica itself as soon as it is master (Sentinel would convert this node only seconds later,
// and a master left writable after a promotion loses what it acknowledges), then resumes the
// waiting clients, and stops the process at once (its clients reconnect, through the master
// Service, to the new master). Every wait ends at one deadline, the grace period minus 5 s, and
// every redis-cli call is bounded (a dead replica must not hold the script).
func (r *renderer) shutdownScript() string {
	var b strings.Builder
	fmt.Fprintf(&b, `#!/bin/sh
# preStop of a redis pod of RedisFailover %s/%s, rendered by redhook.
port="${REDIS_PORT:-%d}"
host="${REDIS_HOST:-127.0.0.1}"
# Every redis-cli call is bounded by 2 s where timeout(1) exists.
t=""
if command -v timeout >/dev/null 2>&1; then t="timeout 2"; fi
redis_cli() { $t redis-cli -h "$host" -p "$port" "$@"; }
`, r.namespace(), r.name(), r.port())
	if r.rf.Spec.Redis.Storage.PersistentVolumeClaim != nil {
		b.WriteString(shutdownSave)
	} else {
		b.WriteString(shutdownNoSave)
	}
	sentinel, handOver := r.sentinels(), sentinelless(r.rf)
	if sentinel {
		fmt.Fprintf(&b, "sentinel=\"${SENTINEL_HOST:-%s}\"\n", sentinelName(r.name()))
		if r.sentinelAuth {
			fmt.Fprintf(&b, "sentinel_cli() { $t redis-cli -h \"$sentinel\" -p %d \"$@\"; }\n", SentinelPort)
		} else {
			// REDISCLI_AUTH is redis' password; an AUTH to a sentinel without requirepass fails.
			b.WriteString("# The sentinels require no password (spec.auth.sentinel is off): send them none.\n")
			fmt.Fprintf(&b, "sentinel_cli() { (unset REDISCLI_AUTH; $t redis-cli -h \"$sentinel\" -p %d \"$@\"); }\n", SentinelPort)
		}
	}
	if sentinel || handOver {
		wait := r.shutdownWait()
		// args: the hand-over's deadline, the catch-up bound, the pause in ms, the master name.
		args := []any{wait, catchUpSeconds, wait * 1000, r.masterName()}
		b.WriteString(strings.ReplaceAll(shutdownHelpers, "%%", "%"))
		if sentinel {
			fmt.Fprintf(&b, shutdownStepsSentinel, args...)
		} else {
			fmt.Fprintf(&b, shutdownStepsSentinelless, args...)
		}
		fmt.Fprintf(&b, shutdownBegin, args...)
		if sentinel {
			fmt.Fprintf(&b, shutdownAskSentinel, args...)
		}
		fmt.Fprintf(&b, shutdownPause, args...)
		if sentinel {
			fmt.Fprintf(&b, shutdownStale, args...)
		}
		fmt.Fprintf(&b, shutdownCatchUp, args...)
		if sentinel {
			fmt.Fprintf(&b, shutdownSentinelFailover, args...)
		} else {
			fmt.Fprint(&b, strings.ReplaceAll(shutdownPromote, "%%", "%"))
		}
		b.WriteString("  redis_cli client unpause >/dev/null\n")
		if sentinel {
			b.WriteString("  # $new is \"host port\": split on purpose.\n  [ -z \"$handed\" ] || repoint $new\n")
		} else {
			b.WriteString("  [ -z \"$handed\" ] || repoint \"${new%:*}\" \"${new##*:}\"\n")
		}
		b.WriteString("  [ -z \"$handed\" ] || stop\n}\n")
	}
	if r.rf.Spec.Redis.Storage.PersistentVolumeClaim != nil {
		b.WriteString("# The data is on a persistent volume: write a fresh snapshot before stopping.\n")
		b.WriteString("redis_cli save\n")
	}
	b.WriteString("exit 0\n")
	return b.String()
}

// The two definitions of stop: with the data on a persistent volume, a fresh snapshot first
// (SAVE, before the process stops: the kubelet's SIGTERM may come first, and with save "" Redis
// writes none on it); else none (an emptyDir goes with the pod).
var (
	shutdownSave   = fmt.Sprintf(shutdownStop, "  redis_cli save >/dev/null\n", lingerSeconds)
	shutdownNoSave = fmt.Sprintf(shutdownStop, "", lingerSeconds)
)

// The pieces of the shutdown script's hand-over (shutdownScript), Fprintf formats of the
// hand-over's deadline in seconds (%[1]d), the catch-up bound (%[2]d), the pause in ms (%[3]d)
// and the master name (%[4]s).
const (
	shutdownHelpers = `# get NAME TEXT sets val to the value of NAME in the INFO text TEXT. Builtins only: a forced
# deletion leaves this script 1 s, and every process started before the failover costs some of it.
get() {
  val=${2#*"$1":}
  if [ "$val" = "$2" ]; then val=""; else val=${val%%%%[!0-9A-Za-z_.]*}; fi
}
# role HOST PORT sets val to the role of a redis node (empty when it does not answer).
role() { get role "$($t redis-cli -h "$1" -p "$2" info replication 2>/dev/null)"; }
# hostport ADDR sets ahost and aport from "host:port" (an IPv6 address keeps its colons: the
# port is after the last one).
hostport() { ahost=${1%%:*}; aport=${1##*:}; }
# repoint HOST PORT makes the other replicas of this node ($replicas) replicas of the new master
# HOST:PORT at once, after a hand-over: Sentinel (or the healer) would get to them only later, and
# with this process stopping the new master would have no replica to acknowledge WAIT meanwhile.
# All at once (each call bounded by $t), and not past the hand-over's deadline.
repoint() {
  before "$end" || return 0
  for r in $replicas; do
    [ "$r" = "$1:$2" ] && continue
    hostport "$r"
    $t redis-cli -h "$ahost" -p "$aport" replicaof "$1" "$2" >/dev/null 2>&1 &
  done
  wait
}
# now sets now to the seconds since boot (/proc/uptime, read without starting a process), or
# since the epoch where there is no /proc.
now() {
  if read -r now _ </proc/uptime 2>/dev/null; then now=${now%%.*}; else now=$(date +%%s); fi
}
# before T: the deadline T (in now's seconds) is still ahead.
before() { now; [ "$now" -lt "$1" ]; }
`
	shutdownStepsSentinel = `# A master hands over before it stops, within %[1]d s (the grace period - 5 s), losing no write:
# 1. Ask Sentinel which master it names (before the pause: the writes do not wait for it).
# 2. Claim: CLIENT PAUSE WRITE, unless redhook's healer is handing over already (then wait for
#    it); from now on no write runs here; writing clients wait.
# 3. If Sentinel names another master, this one is stale: no failover; it stays paused and stops.
# 4. Every online replica reaches the master's offset (at most %[2]d s).
# 5. SENTINEL FAILOVER, then wait until a replica is master (or Sentinel names another).
# 6. REPLICAOF it: the waiting writes fail with READONLY, and their clients retry on the new
#    master. Sentinel would convert this node only seconds later, and until then it would take
#    writes that no replica keeps.
# 7. CLIENT UNPAUSE once a replica, or when no failover was started (the pod stops anyway).
# 8. A replica now: the other replicas follow the new master (repoint), SHUTDOWN at once (stop).
`
	shutdownStepsSentinelless = `# Without Sentinel, a master hands over before it stops, within %[1]d s (the grace period - 5 s),
# losing no write:
# 1. Claim: CLIENT PAUSE WRITE, unless the writes are paused already (then wait); from now on
#    no write runs here; writing clients wait.
# 2. Every online replica reaches the master's offset (at most %[2]d s).
# 3. REPLICAOF NO ONE on the first replica that has the offset: it continues this master's
#    history (redhook's healer keeps it: rule 5), and the healer moves the master Service to it.
# 4. REPLICAOF it: the waiting writes fail with READONLY, and their clients retry through the
#    master Service.
# 5. CLIENT UNPAUSE; also when no replica has the offset (no hand-over: the healer fails over
#    once the process stops).
# 6. A replica now: the other replicas follow the new master (repoint), SHUTDOWN at once (stop).
`
	shutdownBegin = `# The hand-over, of a master only: the claim's INFO says whether this node is one (no ROLE
# first: a forced deletion leaves this script 1 s, and each process costs some of it).
{
  now
  end=$((now + %[1]d))
`
	// shutdownAskSentinel asks before the pause, so that the writes do not wait for it.
	shutdownAskSentinel = `  # Which master Sentinel names is asked before the pause: the writes do not wait for it.
  self="${POD_IP:-$host}"
  named=$(sentinel_cli --raw sentinel get-master-addr-by-name %[4]s 2>/dev/null)
  named=${named%%%%[!0-9A-Za-z.:-]*}
`
	shutdownPause = `  # One call claims the hand-over, pauses the writes and reads the offset they stopped at. The
  # claim is one transaction of PUBLISH (a write, for CLIENT PAUSE) and CLIENT PAUSE: it waits
  # while the writes are paused already, by redhook's healer handing this master over (it starts
  # as soon as it sees the pod terminating, and claims the same way). Then this script does not
  # hand over too: two SENTINEL FAILOVER sent to two sentinels would promote two replicas. It
  # claims again after each 2 s without a reply, and hands over itself once a claim goes through
  # with this node still master (the healer gave up).
  handed=""
  claim() {
    info=$(printf 'MULTI\nPUBLISH __redhook__:handover %%s\nCLIENT PAUSE %[3]d WRITE\nEXEC\nINFO replication\n' "${POD_IP:-$host}" | redis_cli)
    rc=$?
    get role "$info"
  }
  claim
  waited=""
  # 124: timeout(1) ended the call, the writes are paused; any other failure ends the script.
  while [ -z "$val" ] && [ "$rc" -eq 124 ] && before "$end"; do
    echo "writes paused already (redhook's healer hands over): claiming again"
    waited=1
    claim
  done
  if [ "$val" != master ]; then
    if [ -n "$val" ]; then
      # A replica (maybe since the healer handed over while the claim waited): paused by the
      # claim, resumed, no hand-over.
      echo "this node is a $val: no hand-over"
      redis_cli client unpause >/dev/null
      stop
    fi
    exit 0
  fi
`
	shutdownStale = `  if [ -n "$waited" ]; then
    # Sentinel may have failed over while the claim waited.
    named=$(sentinel_cli --raw sentinel get-master-addr-by-name %[4]s 2>/dev/null)
    named=${named%%%%[!0-9A-Za-z.:-]*}
  fi
  if [ -n "$named" ] && [ "$named" != "$self" ]; then
    echo "Sentinel names $named, not this node: no failover; writes stay paused until the process stops"
    exit 0
  fi
`
	shutdownCatchUp = `  get master_repl_offset "$info"
  offset=$val
  # replicas: "ip:port" of the online replicas (an IPv6 address keeps its colons: the port is
  # after the last one).
  replicas=""
  nl='
'
  rest="$info$nl"
  while [ -n "$rest" ]; do
    line=${rest%%%%"$nl"*}
    rest=${rest#*"$nl"}
    case $line in
    slave[0-9]*:ip=*,state=online,*)
      ip=${line#*:ip=}
      p=${line#*,port=}
      replicas="$replicas ${ip%%%%,*}:${p%%%%,*}"
      ;;
    esac
  done
  caught_up() {
    for r in $replicas; do
      get slave_repl_offset "$($t redis-cli -h "${r%%:*}" -p "${r##*:}" info replication 2>/dev/null)"
      [ -n "$val" ] && [ "$val" -ge "$offset" ] || return 1
    done
  }
  if ! caught_up; then
    now
    catch_up_end=$((now + %[2]d))
    while before "$catch_up_end" && before "$end" && ! caught_up; do
      sleep 0.02
    done
  fi
`
	shutdownSentinelFailover = `  reply=$(sentinel_cli sentinel failover %[4]s 2>&1)
  # A sentinel that cannot fail over at this moment (one the healer has just reset knows no
  # replica for a second: NOGOODSLAVE) is not the end: each connection through the sentinel
  # Service lands on a sentinel at random. Again every 0.1 s, for 2 s at most; writes wait.
  tries=0
  while [ $tries -lt 20 ] && before "$end"; do
    case $reply in OK*|*INPROG*) break ;; esac
    echo "SENTINEL FAILOVER: $reply; again"
    tries=$((tries + 1))
    sleep 0.1
    reply=$(sentinel_cli sentinel failover %[4]s 2>&1)
  done
  echo "SENTINEL FAILOVER: $reply"
  case $reply in
  OK*|*INPROG*)
    new=""
    polls=0
    while [ -z "$new" ] && before "$end"; do
      for r in $replicas; do
        role "${r%%:*}" "${r##*:}"
        if [ "$val" = master ]; then
          new="${r%%:*} ${r##*:}"
          break
        fi
      done
      polls=$((polls + 1))
      # Sentinel may promote a replica that was not online at the pause: every 5th round, the
      # master it names (only then: each round costs the waiting writes its processes).
      if [ -z "$new" ] && [ $((polls %% 5)) -eq 0 ]; then
        set -- $(sentinel_cli --raw sentinel get-master-addr-by-name %[4]s 2>/dev/null)
        if [ $# -eq 2 ] && [ "$1" != "$self" ]; then
          role "$1" "$2"
          if [ "$val" = master ]; then
            new="$1 $2"
          fi
        fi
      fi
      # Every 20 ms: the writes wait from here until this node follows the new master.
      [ -n "$new" ] || sleep 0.02
    done
    if [ -z "$new" ]; then
      echo "no new master within %[1]d s: writes stay paused until the process stops"
      exit 0
    fi
    echo "new master: $new"
    # $new is "host port": split on purpose.
    redis_cli replicaof $new >/dev/null && handed=1
    ;;
  esac
`
	shutdownPromote = `  new=""
  for r in $replicas; do
    get slave_repl_offset "$($t redis-cli -h "${r%%:*}" -p "${r##*:}" info replication 2>/dev/null)"
    if [ -n "$val" ] && [ "$val" -ge "$offset" ]; then
      new="$r"
      break
    fi
  done
  if [ -n "$new" ]; then
    reply=$($t redis-cli -h "${new%%:*}" -p "${new##*:}" replicaof no one 2>&1)
    echo "REPLICAOF NO ONE on $new: $reply"
    case $reply in
    OK*) redis_cli replicaof "${new%%:*}" "${new##*:}" >/dev/null && handed=1 ;;
    esac
  else
    echo "no online replica has this master's offset $offset: no hand-over"
  fi
`
	// shutdownStop defines stop, which ends the script of a node that is a replica (its own or
	// one the hand-over made). It closes the node's listener and ends its clients' connections
	// at once, then keeps the pod, and so its address, up for lingerSeconds before the kubelet's
	// SIGTERM stops the process. A master that did not hand over is left to SIGTERM, on which
	// Redis waits for lagging replicas. Fprintf format of a line run before (%[1]s) and the
	// linger in seconds (%[2]s).
	shutdownStop = `# stop (a replica only): end this node's part at once, but keep its address answering a moment.
# kube-proxy follows a moved EndpointSlice up to a second later (it rewrites its rules at most
# once a second), and a client that connects through a Service meanwhile still lands on this
# pod's address. While the pod runs, such a connection is refused at once and the client tries
# again; once the pod is gone, nothing answers there, and a client waits out its dial timeout
# (5 s in most clients), then finds the new master. So: CONFIG SET port 0 closes the listener
# (a new connection is refused; replica-announce-port keeps the port a replication handshake
# still running announces to the new master), CLIENT KILL ends the clients' connections (a
# replica now, after a hand-over, whose clients got READONLY: they reconnect, through the
# Service, to the new master), both on one connection; then the script waits %[2]s s (not past
# its deadline) and ends, and the kubelet's SIGTERM stops the process. Where the listener cannot
# be closed (Redis 6.2 takes one setting per CONFIG SET, and no port) the process stops now
# instead: in the background, 50 ms after this script ended (a container that stops while its
# preStop hook runs has the hook killed: exit 137, a FailedPreStopHook event); NOW: no wait for
# lagging replicas, which a replica has none of (Redis >= 7.0; 6.2 refuses it, then plain
# SHUTDOWN; a SHUTDOWN renamed away leaves the stop to the kubelet).
stop() {
%[1]s  reply=$(printf 'CONFIG SET replica-announce-port %%s port 0\nCLIENT KILL TYPE normal SKIPME yes\n' "$port" | redis_cli 2>&1)
  case $reply in
  OK*)
    echo "listener closed: the pod's address refuses connections for %[2]s s"
    if before "$end"; then sleep %[2]s; fi
    exit 0
    ;;
  esac
  (
    sleep 0.05
    reply=$(redis_cli shutdown nosave now 2>&1)
    [ -z "$reply" ] || redis_cli shutdown nosave
  ) </dev/null >/dev/null 2>&1 &
  exit 0
}
`
)

// lingerSeconds is how long a stopping redis pod keeps its address up with its listener closed
// (shutdownStop): kube-proxy's default minSyncPeriod (1 s), after the master EndpointSlice moved
// (0.1-0.25 s after the promotion), with some margin.
const lingerSeconds = "1.5"

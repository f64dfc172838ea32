package decision

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/redhook/redhook/hooks"
)

// The parsers in this file are pure: they turn the replies of Redis and Sentinel into values.
// Text replies (INFO) arrive as strings; structured replies (ROLE, SENTINEL MASTER, CONFIG GET…)
// arrive as the generic values a RESP decoder produces: string, int64, bool, []any and, for
// RESP3 maps, map[string]any (what rueidis' ToAny returns). Sentinel and CONFIG GET answer a
// RESP3 map or, under RESP2, a flat key/value array; both are accepted.

// ErrMalformed is wrapped by every parse error.
var ErrMalformed = errors.New("malformed reply")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// ParseInfo reads the "key:value" lines of an INFO reply, whatever its sections.
func ParseInfo(text string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if ok {
			out[k] = v
		}
	}
	return out
}

// ReplicaLink is one replica as its master lists it (INFO replication "slaveN" lines or ROLE).
type ReplicaLink struct {
	IP     string
	Port   int32
	State  string // INFO: online, wait_bgsave, send_bulk…; empty from ROLE
	Offset int64
}

// RedisInfo is what the healer reads from `INFO server replication keyspace`.
type RedisInfo struct {
	// Role is "master" or "slave".
	Role string
	// MasterHost and MasterPort are the replica's master; empty for a master.
	MasterHost string
	MasterPort int32
	// LinkUp is master_link_status:up.
	LinkUp bool
	// Syncing is master_sync_in_progress:1 (a full synchronisation is running).
	Syncing bool
	// LinkDownSince is master_link_down_since_seconds: how long a replica has had no link to
	// its master, as Redis itself counts it (so it survives a restart of redhook); -1 when the
	// link was never up since the node started, 0 when it is up or the node is a master.
	LinkDownSince int64
	// Offset is master_repl_offset: how much of the replication stream the node holds.
	Offset int64
	// ReplID is master_replid: the replication history the offset belongs to.
	ReplID string
	// ReplID2 is master_replid2: the history a promoted replica continued (its former master's
	// ReplID), all zeros otherwise.
	ReplID2           string
	ConnectedReplicas int32
	Replicas          []ReplicaLink
	// RunID changes at every restart (server section).
	RunID string
	// Uptime is uptime_in_seconds (server section).
	Uptime int64
	// Keys is the number of keys over all databases (keyspace section).
	Keys int64
	// RefusedWrites is how many commands the node has refused with READONLY since it started
	// (errorstats section, errorstat_READONLY): writes sent to it as a replica.
	RefusedWrites int64
}

// ParseRedisInfo reads the server, replication, keyspace and errorstats sections of an INFO
// reply. Only the replication section is required.
func ParseRedisInfo(text string) (RedisInfo, error) {
	kv := ParseInfo(text)
	var r RedisInfo
	r.Role = kv["role"]
	if r.Role != hooks.RoleMaster && r.Role != hooks.RoleReplica {
		return RedisInfo{}, malformed("INFO: role %q", r.Role)
	}
	var err error
	num := func(key string) int64 {
		s, ok := kv[key]
		if !ok || err != nil {
			return 0
		}
		n, e := strconv.ParseInt(s, 10, 64)
		if e != nil {
			err = malformed("INFO %s: %q", key, s)
		}
		return n
	}
	r.Offset = num("master_repl_offset")
	r.Uptime = num("uptime_in_seconds")
	r.ConnectedReplicas = int32(num("connected_slaves"))
	if r.Role == hooks.RoleReplica {
		r.MasterHost = kv["master_host"]
		r.MasterPort = int32(num("master_port"))
		r.LinkUp = kv["master_link_status"] == "up"
		r.Syncing = kv["master_sync_in_progress"] == "1"
		if !r.LinkUp {
			r.LinkDownSince = num("master_link_down_since_seconds")
		}
	}
	r.ReplID = kv["master_replid"]
	if id := kv["master_replid2"]; strings.Trim(id, "0") != "" {
		r.ReplID2 = id
	}
	r.RunID = kv["run_id"]
	if stat, ok := kv["errorstat_READONLY"]; ok {
		n, e := strconv.ParseInt(parseFields(stat)["count"], 10, 64)
		if e != nil {
			return RedisInfo{}, malformed("INFO errorstat_READONLY: %q", stat)
		}
		r.RefusedWrites = n
	}
	for i := 0; ; i++ {
		line, ok := kv["slave"+strconv.Itoa(i)]
		if !ok {
			break
		}
		link, e := parseReplicaLine(line)
		if e != nil {
			return RedisInfo{}, e
		}
		r.Replicas = append(r.Replicas, link)
	}
	for k, v := range kv {
		if strings.HasPrefix(k, "db") {
			fields := parseFields(v)
			n, e := strconv.ParseInt(fields["keys"], 10, 64)
			if e != nil {
				return RedisInfo{}, malformed("INFO %s: %q", k, v)
			}
			r.Keys += n
		}
	}
	return r, err
}

// parseFields reads "a=1,b=2" as INFO writes compound values.
func parseFields(s string) map[string]string {
	out := map[string]string{}
	for _, f := range strings.Split(s, ",") {
		if k, v, ok := strings.Cut(f, "="); ok {
			out[k] = v
		}
	}
	return out
}

// parseReplicaLine reads "ip=10.0.0.2,port=6379,state=online,offset=451,lag=1".
func parseReplicaLine(s string) (ReplicaLink, error) {
	f := parseFields(s)
	port, err1 := strconv.ParseInt(f["port"], 10, 32)
	offset, err2 := strconv.ParseInt(f["offset"], 10, 64)
	if f["ip"] == "" || err1 != nil || err2 != nil {
		return ReplicaLink{}, malformed("INFO replica %q", s)
	}
	return ReplicaLink{IP: f["ip"], Port: int32(port), State: f["state"], Offset: offset}, nil
}

// Role is the reply of ROLE.
type Role struct {
	// Role is "master" or "slave" (ROLE answers "slave" for a replica, like INFO).
	Role string
	// Offset is the master's replication offset, or the offset a replica has processed
	// (-1 while it has never connected).
	Offset int64
	// Replica side.
	MasterHost string
	MasterPort int32
	// State is the replica's link: connect, connecting, sync or connected.
	State string
	// Master side.
	Replicas []ReplicaLink
}

// ParseRole reads ROLE: ["master", offset, [[ip, port, offset]…]] or
// ["slave", host, port, state, offset]. A sentinel's ["sentinel", [names]] is an error here.
func ParseRole(v any) (Role, error) {
	a, ok := v.([]any)
	if !ok || len(a) == 0 {
		return Role{}, malformed("ROLE: %T", v)
	}
	var r Role
	var err error
	r.Role, err = asString(a[0])
	if err != nil {
		return Role{}, malformed("ROLE: %v", err)
	}
	switch r.Role {
	case hooks.RoleMaster:
		if len(a) < 3 {
			return Role{}, malformed("ROLE master: %d elements", len(a))
		}
		if r.Offset, err = asInt(a[1]); err != nil {
			return Role{}, malformed("ROLE master offset: %v", err)
		}
		list, ok := a[2].([]any)
		if !ok {
			return Role{}, malformed("ROLE master replicas: %T", a[2])
		}
		for _, item := range list {
			rep, ok := item.([]any)
			if !ok || len(rep) < 3 {
				return Role{}, malformed("ROLE replica: %v", item)
			}
			var l ReplicaLink
			var e1, e2, e3 error
			l.IP, e1 = asString(rep[0])
			port, e2 := asInt(rep[1])
			l.Offset, e3 = asInt(rep[2])
			if err := errors.Join(e1, e2, e3); err != nil {
				return Role{}, malformed("ROLE replica %v: %v", rep, err)
			}
			l.Port = int32(port)
			r.Replicas = append(r.Replicas, l)
		}
	case hooks.RoleReplica:
		if len(a) < 5 {
			return Role{}, malformed("ROLE slave: %d elements", len(a))
		}
		var e1, e2, e3, e4 error
		r.MasterHost, e1 = asString(a[1])
		port, e2 := asInt(a[2])
		r.State, e3 = asString(a[3])
		r.Offset, e4 = asInt(a[4])
		if err := errors.Join(e1, e2, e3, e4); err != nil {
			return Role{}, malformed("ROLE slave: %v", err)
		}
		r.MasterPort = int32(port)
	default:
		return Role{}, malformed("ROLE: role %q", r.Role)
	}
	return r, nil
}

// SentinelInfoMaster is one "masterN:" line of INFO sentinel.
type SentinelInfoMaster struct {
	Name      string
	Status    string // ok, sdown, odown
	Host      string
	Port      int32
	Slaves    int
	Sentinels int
}

// SentinelInfo is the reply of INFO sentinel.
type SentinelInfo struct {
	// Tilt is true while the sentinel is in TILT mode (it then acts on nothing).
	Tilt    bool
	Masters []SentinelInfoMaster
}

// Master returns the entry for name.
func (s SentinelInfo) Master(name string) (SentinelInfoMaster, bool) {
	for _, m := range s.Masters {
		if m.Name == name {
			return m, true
		}
	}
	return SentinelInfoMaster{}, false
}

// ParseSentinelInfo reads INFO sentinel.
func ParseSentinelInfo(text string) (SentinelInfo, error) {
	kv := ParseInfo(text)
	n, err := strconv.Atoi(kv["sentinel_masters"])
	if err != nil {
		return SentinelInfo{}, malformed("INFO sentinel: sentinel_masters %q", kv["sentinel_masters"])
	}
	out := SentinelInfo{Tilt: kv["sentinel_tilt"] == "1"}
	for i := 0; i < n; i++ {
		line, ok := kv["master"+strconv.Itoa(i)]
		if !ok {
			return SentinelInfo{}, malformed("INFO sentinel: master%d missing", i)
		}
		f := parseFields(line)
		host, portText, err := net.SplitHostPort(f["address"])
		port, err2 := strconv.ParseInt(portText, 10, 32)
		slaves, err3 := strconv.Atoi(f["slaves"])
		sentinels, err4 := strconv.Atoi(f["sentinels"])
		if f["name"] == "" || errors.Join(err, err2, err3, err4) != nil {
			return SentinelInfo{}, malformed("INFO sentinel: %q", line)
		}
		out.Masters = append(out.Masters, SentinelInfoMaster{Name: f["name"], Status: f["status"],
			Host: host, Port: int32(port), Slaves: slaves, Sentinels: sentinels})
	}
	sort.Slice(out.Masters, func(i, j int) bool { return out.Masters[i].Name < out.Masters[j].Name })
	return out, nil
}

// SentinelMaster is the reply of SENTINEL MASTER <name>.
type SentinelMaster struct {
	Name  string
	IP    string
	Port  int32
	RunID string
	Flags []string
	// FailoverState is set while this sentinel runs a failover (wait_start, select_slave…).
	FailoverState     string
	ConfigEpoch       int64
	NumReplicas       int
	NumOtherSentinels int
	Quorum            int
	// Fields holds every field of the reply as text, settings such as down-after-milliseconds
	// included.
	Fields map[string]string
}

// HasFlag tells whether flag (master, s_down, o_down, failover_in_progress…) is set.
func (m SentinelMaster) HasFlag(flag string) bool {
	for _, f := range m.Flags {
		if f == flag {
			return true
		}
	}
	return false
}

// FailoverInProgress tells whether this sentinel is running a failover of the master.
func (m SentinelMaster) FailoverInProgress() bool {
	return m.HasFlag("failover_in_progress") || m.FailoverState != ""
}

// ParseSentinelMaster reads SENTINEL MASTER.
func ParseSentinelMaster(v any) (SentinelMaster, error) {
	kv, err := parseKeyValues(v)
	if err != nil {
		return SentinelMaster{}, fmt.Errorf("SENTINEL MASTER: %w", err)
	}
	m := SentinelMaster{Name: kv["name"], IP: kv["ip"], RunID: kv["runid"], Fields: kv,
		Flags: splitFlags(kv["flags"]), FailoverState: kv["failover-state"]}
	var errs []error
	num := func(key string) int64 {
		n, err := strconv.ParseInt(kv[key], 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %q", key, kv[key]))
		}
		return n
	}
	m.Port = int32(num("port"))
	m.ConfigEpoch = num("config-epoch")
	m.NumReplicas = int(num("num-slaves"))
	m.NumOtherSentinels = int(num("num-other-sentinels"))
	m.Quorum = int(num("quorum"))
	if m.Name == "" || m.IP == "" || len(errs) > 0 {
		return SentinelMaster{}, malformed("SENTINEL MASTER: name %q ip %q %v", m.Name, m.IP, errors.Join(errs...))
	}
	return m, nil
}

// SentinelPeer is one entry of SENTINEL REPLICAS or SENTINEL SENTINELS.
type SentinelPeer struct {
	Name  string
	IP    string
	Port  int32
	RunID string
	Flags []string
	// Replica entries only.
	MasterHost string
	MasterPort int32
	LinkOK     bool
	// Priority (slave-priority) and Offset (slave-repl-offset) are the replica's
	// replica-priority and replication offset as this sentinel last read them with INFO: what
	// Sentinel orders the replicas by when it picks one to promote. -1 when not reported.
	Priority int64
	Offset   int64
	// VotedLeader and VotedLeaderEpoch (sentinel entries only) are the leader this peer voted
	// for and in which epoch, as it last answered; "" or "?" when none. Sentinel forgets the
	// answer after 5 ask periods.
	VotedLeader      string
	VotedLeaderEpoch int64
}

// HasFlag tells whether flag (slave, sentinel, s_down, disconnected…) is set.
func (p SentinelPeer) HasFlag(flag string) bool {
	for _, f := range p.Flags {
		if f == flag {
			return true
		}
	}
	return false
}

// ParseSentinelPeers reads SENTINEL REPLICAS and SENTINEL SENTINELS: an array of key/value
// entries.
func ParseSentinelPeers(v any) ([]SentinelPeer, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, malformed("sentinel peers: %T", v)
	}
	out := make([]SentinelPeer, 0, len(list))
	for _, item := range list {
		kv, err := parseKeyValues(item)
		if err != nil {
			return nil, fmt.Errorf("sentinel peer: %w", err)
		}
		port, err := strconv.ParseInt(kv["port"], 10, 32)
		if err != nil || kv["ip"] == "" {
			return nil, malformed("sentinel peer: ip %q port %q", kv["ip"], kv["port"])
		}
		p := SentinelPeer{Name: kv["name"], IP: kv["ip"], Port: int32(port), RunID: kv["runid"],
			Flags: splitFlags(kv["flags"]), MasterHost: kv["master-host"],
			LinkOK: kv["master-link-status"] == "ok"}
		if mp, err := strconv.ParseInt(kv["master-port"], 10, 32); err == nil {
			p.MasterPort = int32(mp)
		}
		p.Priority, p.Offset = optInt(kv, "slave-priority"), optInt(kv, "slave-repl-offset")
		p.VotedLeader = kv["voted-leader"]
		p.VotedLeaderEpoch, _ = strconv.ParseInt(kv["voted-leader-epoch"], 10, 64) // 0 when absent
		out = append(out, p)
	}
	return out, nil
}

// optInt reads an optional integer field: -1 when absent or not a number.
func optInt(kv map[string]string, key string) int64 {
	n, err := strconv.ParseInt(kv[key], 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// ParseSentinelDebug reads SENTINEL DEBUG without arguments: Sentinel's timing parameters
// (INFO-PERIOD, PING-PERIOD…) in milliseconds, keyed in upper case as Sentinel names them.
func ParseSentinelDebug(v any) (map[string]int64, error) {
	kv, err := parseKeyValues(v)
	if err != nil {
		return nil, fmt.Errorf("SENTINEL DEBUG: %w", err)
	}
	out := make(map[string]int64, len(kv))
	for k, s := range kv {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, malformed("SENTINEL DEBUG %s: %q", k, s)
		}
		out[strings.ToUpper(k)] = n
	}
	return out, nil
}

// ParseConfigGet reads CONFIG GET: parameter → value.
func ParseConfigGet(v any) (map[string]string, error) {
	kv, err := parseKeyValues(v)
	if err != nil {
		return nil, fmt.Errorf("CONFIG GET: %w", err)
	}
	return kv, nil
}

// parseKeyValues reads a RESP3 map or a RESP2 flat array of alternating keys and values.
func parseKeyValues(v any) (map[string]string, error) {
	out := map[string]string{}
	switch t := v.(type) {
	case map[string]any:
		for k, val := range t {
			s, err := asString(val)
			if err != nil {
				return nil, malformed("field %s: %v", k, err)
			}
			out[k] = s
		}
	case []any:
		if len(t)%2 != 0 {
			return nil, malformed("odd key/value array of %d", len(t))
		}
		for i := 0; i < len(t); i += 2 {
			k, err1 := asString(t[i])
			s, err2 := asString(t[i+1])
			if err := errors.Join(err1, err2); err != nil {
				return nil, malformed("key/value %d: %v", i/2, err)
			}
			out[k] = s
		}
	default:
		return nil, malformed("key/value reply: %T", v)
	}
	return out, nil
}

func splitFlags(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func asString(v any) (string, error) {
	switch t := v.(type) {
	case string:
		return t, nil
	case int64:
		return strconv.FormatInt(t, 10), nil
	case bool:
		if t {
			return "1", nil
		}
		return "0", nil
	case nil:
		return "", nil
	}
	return "", fmt.Errorf("%T is not a string", v)
}

func asInt(v any) (int64, error) {
	switch t := v.(type) {
	case int64:
		return t, nil
	case string:
		return strconv.ParseInt(t, 10, 64)
	}
	return 0, fmt.Errorf("%T is not an integer", v)
}

// ParseClientList reads the reply of CLIENT LIST: one line per client, "id=7 addr=… cmd=set …".
// Only id and cmd are kept. Over RESP3 the reply is a verbatim string: its "txt:" is
// dropped.
func ParseClientList(text string) ([]Client, error) {
	var out []Client
	text = strings.TrimPrefix(text, "txt:")
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		var c Client
		var id string
		for _, f := range strings.Fields(line) {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "id":
				id = v
			case "cmd":
				c.Cmd = v
			}
		}
		var err error
		if c.ID, err = strconv.ParseInt(id, 10, 64); err != nil {
			return nil, malformed("CLIENT LIST: id %q", id)
		}
		out = append(out, c)
	}
	return out, nil
}

// ParseSentinelVote reads the reply of SENTINEL IS-MASTER-DOWN-BY-ADDR: down state, leader
// run id ("*" for none), leader epoch.
func ParseSentinelVote(v any) (SentinelVote, error) {
	a, ok := v.([]any)
	if !ok || len(a) != 3 {
		return SentinelVote{}, fmt.Errorf("SENTINEL IS-MASTER-DOWN-BY-ADDR: want 3 elements, got %v", v)
	}
	leader, ok := a[1].(string)
	epoch, ok2 := a[2].(int64)
	if !ok || !ok2 {
		return SentinelVote{}, fmt.Errorf("SENTINEL IS-MASTER-DOWN-BY-ADDR: want a leader and an epoch, got %v", v)
	}
	if leader == "*" {
		leader = ""
	}
	return SentinelVote{Leader: leader, Epoch: epoch}, nil
}

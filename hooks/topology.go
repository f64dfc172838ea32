package hooks

import (
	"encoding/json"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Topology is what the healer needs to converge one RedisFailover: addresses, ports, the
// password and the desired configuration. It is built from a sync request by NewTopology and
// handed to the healer after the sync response is computed.
type Topology struct {
	Namespace  string `json:"namespace"`
	Name       string `json:"name"`
	MasterName string `json:"masterName"`
	RedisPort  int32  `json:"redisPort"`
	// SentinelPort is fixed (26379) in a cluster; local mode keeps it too.
	SentinelPort int32 `json:"sentinelPort"`
	// Redis and Sentinels are the pods that exist, ordered by name.
	Redis     []PodRef `json:"redis"`
	Sentinels []PodRef `json:"sentinels"`
	// RedisReplicas and SentinelReplicas are the desired counts.
	RedisReplicas    int32 `json:"redisReplicas"`
	SentinelReplicas int32 `json:"sentinelReplicas"`
	Quorum           int32 `json:"quorum"`
	// Password is redis' password (requirepass/masterauth), which the sentinels also use towards
	// redis (auth-pass): the healer authenticates to redis with it and sets it as auth-pass.
	Password Secret `json:"password"`
	// SentinelPassword is what the sentinels require (requirepass in sentinel.conf): Password
	// with spec.auth.sentinel, else empty — by default, as in spotahome, the sentinels require
	// none, and the healer should send them none.
	SentinelPassword Secret `json:"sentinelPassword"`
	// RedisConfig is spec.redis.customConfig as key/value pairs, to apply with CONFIG SET.
	RedisConfig []ConfigEntry `json:"redisConfig,omitempty"`
	// SentinelConfig is the per-master Sentinel settings (defaults merged), for SENTINEL SET.
	SentinelConfig []ConfigEntry `json:"sentinelConfig,omitempty"`
	// Bootstrap is the external node every redis replicates; nil when not bootstrapping.
	Bootstrap *Endpoint `json:"bootstrap,omitempty"`
	// SentinelsEnabled is false with spec.sentinel.enabled: false, and while bootstrapping
	// without allowSentinels.
	SentinelsEnabled bool `json:"sentinelsEnabled"`
	// Sentinelless: spec.sentinel.enabled is false and no bootstrap: the healer detects the
	// master's failure and promotes a replica itself (healer/decision/sentinelless.go).
	Sentinelless bool `json:"sentinelless,omitempty"`
	// DetectionTimeout is spec.sentinel.detectionTimeoutSeconds, defaulted, in sentinel-less mode.
	DetectionTimeout int32 `json:"detectionTimeoutSeconds,omitempty"`
	// ModeConfig is the mode's redis settings, applied live like RedisConfig: the fencing in
	// sentinel-less mode, Redis' defaults of the same keys in Sentinel mode (a switch back
	// unfences the running nodes). Keys that customConfig sets are not in it.
	ModeConfig []ConfigEntry `json:"modeConfig,omitempty"`
	// Placeholder is where redis.conf points every node at boot: nothing answers there, so a
	// node never starts as a master (see redis.conf rendering).
	Placeholder Endpoint `json:"placeholder"`
	// PlainRollout: AnnotationRollout is rolling-update, the StatefulSet rolls out and scales
	// down on its own, and the healer plans no switchover (rule 14).
	PlainRollout bool `json:"plainRollout,omitempty"`
	// CustomShutdown: the redis pods' preStop hook is the user's (spec.redis.shutdownConfigMap),
	// which may ask Sentinel for a failover without redhook's hand-over claim: the healer leaves a
	// terminating master to it (rule 14).
	CustomShutdown bool `json:"customShutdown,omitempty"`
	// Held: the spec is invalid or its password Secret is missing, and the children are held as
	// they are. Only Namespace, Name, Redis and Sentinels are set (the pods are observed, not
	// desired); the healer goes on with the other fields of the last topology that was not held,
	// which are those of the held children, and forgets nothing while the syncs go on.
	Held bool `json:"held,omitempty"`
}

// Key identifies the RedisFailover: namespace/name.
func (t Topology) Key() string { return t.Namespace + "/" + t.Name }

// PodRef is one pod as Kubernetes reports it.
type PodRef struct {
	Name        string `json:"name"`
	IP          string `json:"ip,omitempty"`
	Ordinal     int    `json:"ordinal"`
	Ready       bool   `json:"ready,omitempty"`
	Revision    string `json:"revision,omitempty"`
	Terminating bool   `json:"terminating,omitempty"`
	// Outdated: the pod does not run the redis StatefulSet's update revision yet (a rollout
	// will replace it). False when either revision is unknown.
	Outdated bool `json:"outdated,omitempty"`
	// Started is when the kubelet took the pod on (status.startTime); zero while it is pending.
	Started time.Time `json:"started,omitzero"`
}

// Endpoint is a host and port.
type Endpoint struct {
	Host string `json:"host"`
	Port int32  `json:"port"`
}

// Address is host:port.
func (e Endpoint) Address() string {
	return net.JoinHostPort(e.Host, strconv.Itoa(int(e.Port)))
}

// ConfigEntry is one "key value" configuration setting.
type ConfigEntry struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Placeholder address of the boot-time replicaof line. Port 1 (tcpmux) is never a Redis, so the
// connection is refused at once and the node stays a replica until Sentinel or the healer says
// otherwise.
var placeholder = Endpoint{Host: "127.0.0.1", Port: 1}

// NewTopology builds the healer's input from a sync request. ok is false when the spec is
// invalid or the auth Secret is missing: the topology is then only the pods, marked Held, and
// the healer must not act on a guess of the rest.
// SyncWithTopology computes it together with the response, decoding the request only once.
func NewTopology(req *SyncRequest) (Topology, bool) {
	return newSyncState(req, HealerReport{}).topology()
}

// topology is the healer's input for this request; while holding, only the pods, Held, and false.
func (st *syncState) topology() (Topology, bool) {
	if st.holding() {
		return Topology{Namespace: st.rf.Namespace, Name: st.rf.Name, Redis: st.redisPods,
			Sentinels: st.sentinelPods, Held: true}, false
	}
	rf := st.rf
	s := &rf.Spec
	t := Topology{
		Namespace:        rf.Namespace,
		Name:             rf.Name,
		MasterName:       s.Sentinel.MasterName,
		RedisPort:        s.Redis.Port,
		SentinelPort:     SentinelPort,
		Redis:            st.redisPods,
		Sentinels:        st.sentinelPods,
		RedisReplicas:    s.Redis.Replicas,
		SentinelReplicas: s.Sentinel.Replicas,
		Quorum:           quorum(s.Sentinel.Replicas),
		Password:         st.r.password,
		SentinelPassword: sentinelPassword(st.r),
		RedisConfig:      configEntries(s.Redis.CustomConfig),
		SentinelConfig:   configEntries(s.Sentinel.CustomConfig),
		SentinelsEnabled: sentinelsEnabled(rf),
		Placeholder:      placeholder,
		PlainRollout:     !roleAwareRollout(rf),
		CustomShutdown:   s.Redis.ShutdownConfigMap != "",
	}
	if sentinelless(rf) {
		t.Sentinelless, t.DetectionTimeout = true, detectionTimeout(rf)
	}
	t.ModeConfig = modeConfig(rf)
	if b := s.BootstrapNode; b != nil {
		port, _ := strconv.Atoi(string(b.Port)) // validated
		t.Bootstrap = &Endpoint{Host: b.Host, Port: int32(port)}
	}
	return t, true
}

// sentinelPassword is the password the rendered sentinels require; none unless spec.auth.sentinel.
func sentinelPassword(r *renderer) Secret {
	if r.sentinelAuth {
		return r.password
	}
	return Secret{}
}

// quorum is the majority of the sentinels.
func quorum(sentinels int32) int32 { return sentinels/2 + 1 }

// sentinelsEnabled tells whether sentinels are rendered: spec.sentinel.enabled, and not while
// bootstrapping without allowSentinels.
func sentinelsEnabled(rf *RedisFailover) bool {
	b := rf.Spec.BootstrapNode
	return sentinelEnabled(rf) && (b == nil || b.AllowSentinels)
}

func configEntries(lines []string) []ConfigEntry {
	out := make([]ConfigEntry, 0, len(lines))
	for _, line := range lines {
		k, v := splitConfig(line)
		// The value as Redis reads it, unquoted (`maxmemory-policy "allkeys-lru"` is
		// CONFIG SET maxmemory-policy allkeys-lru); validated, so it splits.
		if args, err := splitArgs(line); err == nil && len(args) > 1 {
			v = strings.Join(args[1:], " ")
		}
		// Several save lines add up in redis.conf, and CONFIG GET save reports them as one value;
		// one entry each would make the healer set them one after the other on every pass, the
		// last one winning. `save ""` clears what came before, as in redis.conf.
		if k == "save" {
			if i := saveEntry(out); i >= 0 {
				if v != "" && out[i].Value != "" {
					v = out[i].Value + " " + v
				}
				out[i].Value = v
				continue
			}
		}
		out = append(out, ConfigEntry{Key: k, Value: v})
	}
	return out
}

func saveEntry(entries []ConfigEntry) int {
	for i, e := range entries {
		if e.Key == "save" {
			return i
		}
	}
	return -1
}

// pod is the part of a related Pod that redhook reads.
type pod struct {
	Metadata struct {
		Name              string            `json:"name"`
		Namespace         string            `json:"namespace"`
		Labels            map[string]string `json:"labels"`
		DeletionTimestamp *string           `json:"deletionTimestamp"`
	} `json:"metadata"`
	Status struct {
		PodIP string `json:"podIP"`
		// StartTime is a string: a value that is not RFC 3339 must not make the pod unknown.
		StartTime  string `json:"startTime"`
		Conditions []struct {
			Type   string `json:"type"`
			Status string `json:"status"`
		} `json:"conditions"`
	} `json:"status"`
}

func (p *pod) ready() bool {
	for _, c := range p.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status == "True"
		}
	}
	return false
}

// ref is the pod as redhook reports it, its ordinal not known yet (-1).
func (p *pod) ref() PodRef {
	m := &p.Metadata
	return PodRef{Name: m.Name, IP: p.Status.PodIP, Ready: p.ready(), Started: p.started(),
		Revision: m.Labels[LabelRevision], Terminating: m.DeletionTimestamp != nil, Ordinal: -1}
}

// started is status.startTime; zero when absent or unreadable.
func (p *pod) started() time.Time {
	t, _ := time.Parse(time.RFC3339, p.Status.StartTime)
	return t
}

// podRefs lists the redis and sentinel pods of the RedisFailover among the related pods. Pods of
// another namespace or another RedisFailover are ignored even if a rule let them through.
func podRefs(related Objects, namespace, name string) (redis, sentinels []PodRef) {
	for _, raw := range related[KeyPod] {
		var p pod
		if err := json.Unmarshal(raw, &p); err != nil {
			continue // a pod we cannot read is a pod we do not know
		}
		m := &p.Metadata
		if m.Namespace != namespace || m.Labels[LabelName] != name || m.Labels[LabelPartOf] != partOf {
			continue
		}
		ref := p.ref()
		switch m.Labels[LabelComponent] {
		case ComponentRedis:
			if n, err := strconv.Atoi(strings.TrimPrefix(m.Name, redisName(name)+"-")); err == nil {
				ref.Ordinal = n
			}
			redis = append(redis, ref)
		case ComponentSentinel:
			sentinels = append(sentinels, ref)
		}
	}
	sort.Slice(redis, func(i, j int) bool {
		return redis[i].Ordinal < redis[j].Ordinal ||
			redis[i].Ordinal == redis[j].Ordinal && redis[i].Name < redis[j].Name
	})
	sort.Slice(sentinels, func(i, j int) bool { return sentinels[i].Name < sentinels[j].Name })
	return redis, sentinels
}

// authPassword reads the password from the related auth Secret. problem says what is wrong when
// auth is on and the Secret or its "password" key is missing or empty.
func authPassword(rf *RedisFailover, related Objects) (password Secret, problem string) {
	return secretPassword(related, rf.Namespace, rf.Spec.Auth.SecretPath)
}

// secretPassword reads the password of the related Secret namespace/name (spec.auth.secretPath
// of either kind); nothing and no problem when name is empty.
func secretPassword(related Objects, namespace, name string) (password Secret, problem string) {
	if name == "" {
		return Secret{}, ""
	}
	raw, found := related[KeySecret][namespace+"/"+name]
	if !found {
		return Secret{}, fmt.Sprintf("Secret %s/%s named by spec.auth.secretPath does not exist", namespace, name)
	}
	var s struct {
		Data map[string][]byte `json:"data"`
	}
	if err := json.Unmarshal(raw, &s); err != nil || len(s.Data[authPasswordKey]) == 0 {
		return Secret{}, fmt.Sprintf("Secret %s/%s has no non-empty key %q", namespace, name, authPasswordKey)
	}
	return NewSecret(string(s.Data[authPasswordKey])), ""
}

package decision

import (
	"sort"
	"strconv"
	"strings"
)

// sameConfig tells whether a value read with CONFIG GET (or SENTINEL MASTER) is the desired
// value as written in customConfig. Redis normalises what it reports: "100mb" reads back as
// "104857600", "YES" as "yes", "900 1  300 10" as "900 1 300 10". Comparing raw strings would
// rewrite such settings on every pass (spotahome's log noise, #177).
func sameConfig(got, want string) bool {
	return sameValue(got, unquote(want))
}

// holds tells whether the value CONFIG GET reports for key is the merged desired value (see
// mergedConfig), with the option's own way of reporting it.
func holds(key, got, want string) bool {
	switch {
	case redisOptions[key] == perClass:
		return sameClasses(got, want)
	case key == "notify-keyspace-events":
		return sameKeyspaceEvents(got, want)
	}
	return sameValue(got, want)
}

// sameValue compares argument by argument: equal ignoring case, or the same size the way
// redis.conf reads sizes, or the same number ("99.0" reads back as "99").
func sameValue(got, want string) bool {
	g, w := strings.Fields(strings.ToLower(got)), strings.Fields(strings.ToLower(want))
	if len(g) != len(w) {
		return false
	}
	for i := range g {
		if g[i] == w[i] {
			continue
		}
		gm, ok1 := memory(g[i])
		wm, ok2 := memory(w[i])
		if ok1 && ok2 && gm == wm {
			continue
		}
		gf, err1 := strconv.ParseFloat(g[i], 64)
		wf, err2 := strconv.ParseFloat(w[i], 64)
		if err1 == nil && err2 == nil && gf == wf {
			continue
		}
		return false
	}
	return true
}

// sameClasses compares client-output-buffer-limit class by class: each class want names has
// the same hard and soft limits (sizes) and seconds in got, CONFIG GET's
// "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60". Classes want does not
// name are not customConfig's: they keep whatever they hold.
func sameClasses(got, want string) bool {
	g, w := strings.Fields(got), strings.Fields(want)
	if len(g)%4 != 0 || len(w)%4 != 0 {
		return sameValue(got, want)
	}
	limits := map[string]string{}
	for i := 0; i < len(g); i += 4 {
		limits[bufferClass(g[i])] = strings.Join(g[i+1:i+4], " ")
	}
	for i := 0; i < len(w); i += 4 {
		have, ok := limits[bufferClass(w[i])]
		if !ok || !sameValue(have, strings.Join(w[i+1:i+4], " ")) {
			return false
		}
	}
	return true
}

// allKeyspaceEvents is what the A of notify-keyspace-events stands for in Redis 7.0
// (NOTIFY_ALL): neither m (key miss) nor n (new key).
const allKeyspaceEvents = "g$lshzxetd"

// sameKeyspaceEvents compares notify-keyspace-events as sets of flags: Redis reports them in its
// own order with A for the whole class ("KEA" and "g$lshzxetdKE" read back as "AKE"). With every
// class of A set, Redis 7.0.15 does not report n ("AKEmn" reads back as "AKEm"): n is then left
// out of the comparison, or it would be set again on every pass.
func sameKeyspaceEvents(got, want string) bool {
	g, w := keyspaceFlags(got), keyspaceFlags(want)
	if strings.Contains(g, allKeyspaceEvents) || strings.Contains(w, allKeyspaceEvents) {
		g, w = strings.ReplaceAll(g, "n", ""), strings.ReplaceAll(w, "n", "")
	}
	return g == w
}

// keyspaceFlags is the set of flags of a notify-keyspace-events value, A expanded, sorted, with
// the letters of A first so that a full A reads as allKeyspaceEvents.
func keyspaceFlags(s string) string {
	set := map[rune]bool{}
	for _, c := range s {
		if c == 'A' {
			for _, a := range allKeyspaceEvents {
				set[a] = true
			}
			continue
		}
		set[c] = true
	}
	var all, rest []string
	for _, a := range allKeyspaceEvents {
		if set[a] {
			all = append(all, string(a))
			delete(set, a)
		}
	}
	for c := range set {
		rest = append(rest, string(c))
	}
	sort.Strings(rest)
	return strings.Join(all, "") + strings.Join(rest, "")
}

// unquote strips one pair of surrounding double quotes, as redis.conf reads `save ""`.
func unquote(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		if u, err := strconv.Unquote(s); err == nil {
			return u
		}
		return s[1 : len(s)-1]
	}
	return s
}

// memory reads a size the way redis.conf does (memtoull): 1k = 1000, 1kb = 1024, and so on.
func memory(s string) (uint64, bool) {
	units := []struct {
		suffix string
		mul    uint64
	}{
		{"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30},
		{"k", 1000}, {"m", 1000 * 1000}, {"g", 1000 * 1000 * 1000}, {"b", 1},
	}
	mul := uint64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mul = strings.TrimSuffix(s, u.suffix), u.mul
			break
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, false
	}
	return n * mul, true
}

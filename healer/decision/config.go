package decision

import (
	"strconv"
	"strings"
)

// sameConfig tells whether a value read with CONFIG GET (or SENTINEL MASTER) is the desired
// value as written in customConfig. Redis normalises what it reports: "100mb" reads back as
// "104857600", "YES" as "yes", "900 1  300 10" as "900 1 300 10". Comparing raw strings would
// rewrite such settings on every pass (spotahome's log noise, #177).
func sameConfig(got, want string) bool {
	g, w := normalize(got), normalize(unquote(want))
	if g == w {
		return true
	}
	gm, ok1 := memory(g)
	wm, ok2 := memory(w)
	return ok1 && ok2 && gm == wm
}

func normalize(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
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

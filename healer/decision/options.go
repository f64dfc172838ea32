package decision

import (
	"strings"

	"github.com/redhook/redhook/hooks"
)

// How redis.conf reads an option given on several lines, and whether CONFIG SET can change it.
// customConfig lines are rendered into redis.conf as they are, so the value to hold live is the
// one Redis holds after reading them, and CONFIG SET must write that merged value at once: one
// CONFIG SET per line would make the last line win (CONFIG SET save "300 10" replaces "900 1")
// and the next pass flip it back, forever.
type optionKind int

const (
	// lastWins: a later line replaces the value (every option not in redisOptions), also the
	// multi-argument ones (bind, oom-score-adj-values, latency-tracking-info-percentiles).
	lastWins optionKind = iota
	// accumulates: save. Lines append their "seconds changes" pairs; save "" clears what the
	// lines before it gave. CONFIG SET save replaces the whole list.
	accumulates
	// perClass: client-output-buffer-limit. Each line sets the classes it names (groups of
	// "class hard soft seconds"); the other classes keep their value, in the file and with
	// CONFIG SET alike.
	perClass
	// notLive: CONFIG SET refuses it at run time. It is in redis.conf, and a restart applies it:
	// the healer never reads nor writes it.
	notLive
	// secret: never read nor written by the healer, so that no value can reach a log, an action
	// or the status. The password is the topology's; these are managed (hooks' validation
	// refuses them in customConfig) or file-only.
	secret
)

// redisOptions are the options that do not follow lastWins, found on redis-server 7.0.15:
//
//   - accumulates, perClass and lastWins for the multi-argument options: a redis.conf with each
//     option on two lines (save 900 1 / save "" / save 60 5; client-output-buffer-limit pubsub,
//     then replica and pubsub; bind, oom-score-adj-values, latency-tracking-info-percentiles,
//     maxmemory and notify-keyspace-events twice), then CONFIG GET of each;
//   - notLive: CONFIG SET <option> <its own CONFIG GET value> for every option CONFIG GET *
//     lists (192), refused with "can't set immutable config" or, for dir and dbfilename, "can't
//     set protected config" (enable-protected-configs is itself immutable and off); and
//     CONFIG SET of the redis.conf directives that are not options, refused with "Unknown
//     option": include, rename-command, user, loadmodule, sentinel. replicaof, slaveof, dir,
//     include, rename-command, user, unixsocket, supervised, daemonize, pidfile, logfile and
//     aclfile are managed by redhook (hooks' validation refuses them in customConfig); they
//     are listed so that the healer never sends them whatever the topology says.
//
// Redis versions add immutable options; one missing here is tried once per pod and held as a
// refusal (refusals.go), and shows in the status.
var redisOptions = map[string]optionKind{
	"save":                       accumulates,
	"client-output-buffer-limit": perClass,

	"aclfile": notLive, "always-show-logo": notLive, "appenddirname": notLive,
	"appendfilename": notLive, "aof_rewrite_cpulist": notLive, "bgsave_cpulist": notLive,
	"bio_cpulist": notLive, "server_cpulist": notLive, "cluster-config-file": notLive,
	"cluster-enabled": notLive, "cluster-port": notLive, "daemonize": notLive, "databases": notLive,
	"dbfilename": notLive, "dir": notLive, "disable-thp": notLive, "enable-debug-command": notLive,
	"enable-module-command": notLive, "enable-protected-configs": notLive, "io-threads": notLive,
	"io-threads-do-reads": notLive, "logfile": notLive, "pidfile": notLive, "rdbchecksum": notLive,
	"replicaof": notLive, "slaveof": notLive, "set-proc-title": notLive, "socket-mark-id": notLive,
	"supervised": notLive, "syslog-enabled": notLive, "syslog-facility": notLive,
	"syslog-ident": notLive, "tcp-backlog": notLive, "unixsocket": notLive,
	"unixsocketperm": notLive, "include": notLive, "rename-command": notLive, "loadmodule": notLive,
	"sentinel": notLive,

	"requirepass": secret, "masterauth": secret, "user": secret, "tls-key-file-pass": secret,
	"tls-client-key-file-pass": secret,
}

// live tells whether the healer reads and writes key at run time.
func live(key string) bool {
	k := redisOptions[strings.ToLower(key)]
	return k != notLive && k != secret
}

// setting is one option as Redis holds it after reading every customConfig line of it.
type setting struct {
	key   string
	value string // what CONFIG SET gets, and what CONFIG GET should say (compared by holds)
}

// mergedConfig is the value Redis holds for each live option of customConfig, in the order
// of each option's first line.
func mergedConfig(entries []hooks.ConfigEntry) []setting {
	index := map[string]int{}
	var args [][]string
	var keys []string
	for _, e := range entries {
		if !live(e.Key) {
			continue
		}
		a, ok := configArgs(e.Value)
		if !ok {
			a = []string{e.Value} // unbalanced quotes: Redis refuses the file; compare as written
		}
		i, seen := index[e.Key]
		if !seen {
			i = len(keys)
			index[e.Key] = i
			keys = append(keys, e.Key)
			args = append(args, nil)
		}
		switch redisOptions[e.Key] {
		case accumulates:
			if len(a) == 1 && a[0] == "" {
				args[i] = nil
			} else {
				args[i] = append(args[i], a...)
			}
		case perClass:
			args[i] = mergeClasses(args[i], a)
		case lastWins:
			args[i] = a
		}
	}
	out := make([]setting, len(keys))
	for i, k := range keys {
		out[i] = setting{key: k, value: strings.Join(args[i], " ")}
	}
	return out
}

// mergeClasses sets the classes that next names in prev, groups of "class hard soft seconds":
// one class's last line wins. A line that is not whole groups is appended as it is: CONFIG SET
// refuses it and the refusal shows.
func mergeClasses(prev, next []string) []string {
	if len(next) == 0 || len(next)%4 != 0 {
		return append(prev, next...)
	}
	out := append([]string(nil), prev...)
	for g := 0; g < len(next); g += 4 {
		group := next[g : g+4]
		class := bufferClass(group[0])
		replaced := false
		for h := 0; h+4 <= len(out); h += 4 {
			if bufferClass(out[h]) == class {
				copy(out[h:h+4], group)
				replaced = true
			}
		}
		if !replaced {
			out = append(out, group...)
		}
	}
	return out
}

// bufferClass is a client class as CONFIG GET client-output-buffer-limit names it: replica is
// an alias of slave.
func bufferClass(c string) string {
	c = strings.ToLower(c)
	if c == "replica" {
		return "slave"
	}
	return c
}

// configArgs splits a redis.conf value into its arguments as Redis's sdssplitargs does:
// separated by blanks, "double quoted" with \n \r \t \b \a \\ \" and \xHH escapes, or 'single
// quoted' with \'. ok is false for unbalanced quotes (Redis refuses such a line).
func configArgs(s string) (args []string, ok bool) {
	i := 0
	for {
		for i < len(s) && isBlank(s[i]) {
			i++
		}
		if i == len(s) {
			return args, true
		}
		var cur strings.Builder
		inDouble, inSingle := false, false
		for done := false; !done; {
			switch {
			case i == len(s):
				if inDouble || inSingle {
					return nil, false
				}
				done = true
			case inDouble:
				c := s[i]
				switch {
				case c == '\\' && i+3 < len(s) && s[i+1] == 'x' && isHex(s[i+2]) && isHex(s[i+3]):
					cur.WriteByte(unhex(s[i+2])<<4 | unhex(s[i+3]))
					i += 3
				case c == '\\' && i+1 < len(s):
					i++
					cur.WriteByte(unescape(s[i]))
				case c == '"':
					if i+1 < len(s) && !isBlank(s[i+1]) {
						return nil, false // a closing quote must be followed by a blank
					}
					done = true
				default:
					cur.WriteByte(c)
				}
				i++
			case inSingle:
				c := s[i]
				switch {
				case c == '\\' && i+1 < len(s) && s[i+1] == '\'':
					cur.WriteByte('\'')
					i++
				case c == '\'':
					if i+1 < len(s) && !isBlank(s[i+1]) {
						return nil, false
					}
					done = true
				default:
					cur.WriteByte(c)
				}
				i++
			default:
				switch c := s[i]; {
				case isBlank(c):
					done = true
				case c == '"':
					inDouble = true
					i++
				case c == '\'':
					inSingle = true
					i++
				default:
					cur.WriteByte(c)
					i++
				}
			}
		}
		args = append(args, cur.String())
	}
}

// unescape is the byte that a backslash and c stand for in a double-quoted argument.
func unescape(c byte) byte {
	switch c {
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	case 'b':
		return '\b'
	case 'a':
		return '\a'
	}
	return c // \\, \" and any other character stand for themselves
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == 0 }

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

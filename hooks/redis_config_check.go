package hooks

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// optionKind is the kind of value a redis.conf option takes.
type optionKind uint8

const (
	kindBool                    optionKind = iota + 1 // yes or no
	kindInt                                           // an integer within min..max
	kindMemory                                        // bytes: 100, 100kb, 1gb (k, kb, m, mb, g, gb, b), within min..max; with percent also N%
	kindEnum                                          // one of values; with multi several of them
	kindString                                        // one argument, anything
	kindFilename                                      // one argument, a file or directory name without '/' (Redis refuses paths)
	kindHostname                                      // one argument of letters, digits, '-' and '.', or ""
	kindSave                                          // "" or pairs of seconds and changes
	kindClientOutputBufferLimit                       // groups of class, hard limit, soft limit, soft seconds
	kindKeyspaceEvents                                // characters of "Ag$lshzxeKEtmdn", or ""
	kindOOMScoreAdjValues                             // three integers -2000..2000
	kindPercentiles                                   // numbers 0..100, or ""
)

type redisOption struct {
	kind     optionKind
	min, max int64
	percent  bool
	values   []string
	multi    bool
}

// multiArg: Redis splits the single argument of these options at spaces (save "900 1 300 10").
func (o redisOption) multiArg() bool {
	switch o.kind {
	case kindSave, kindClientOutputBufferLimit, kindOOMScoreAdjValues, kindPercentiles:
		return true
	case kindEnum:
		return o.multi
	}
	return false
}

// splitArgs splits a configuration line as Redis does (sdssplitargs): blanks separate
// arguments; "double quotes" with \n \r \t \b \a \xHH and \<char> escapes, 'single quotes' with
// \'; a closing quote must end the argument.
func splitArgs(line string) ([]string, error) {
	var args []string
	i := 0
	for {
		for i < len(line) && isBlank(line[i]) {
			i++
		}
		if i == len(line) {
			return args, nil
		}
		var b strings.Builder
		switch line[i] {
		case '"':
			i++
			for {
				if i == len(line) {
					return nil, errors.New("unbalanced quotes")
				}
				c := line[i]
				if c == '\\' && i+3 < len(line) && line[i+1] == 'x' && isHex(line[i+2]) && isHex(line[i+3]) {
					n, _ := strconv.ParseUint(line[i+2:i+4], 16, 8)
					b.WriteByte(byte(n))
					i += 4
					continue
				}
				if c == '\\' && i+1 < len(line) {
					switch e := line[i+1]; e {
					case 'n':
						b.WriteByte('\n')
					case 'r':
						b.WriteByte('\r')
					case 't':
						b.WriteByte('\t')
					case 'b':
						b.WriteByte('\b')
					case 'a':
						b.WriteByte('\a')
					default:
						b.WriteByte(e)
					}
					i += 2
					continue
				}
				i++
				if c == '"' {
					if i < len(line) && !isBlank(line[i]) {
						return nil, errors.New("a closing quote must be followed by a blank")
					}
					break
				}
				b.WriteByte(c)
			}
		case '\'':
			i++
			for {
				if i == len(line) {
					return nil, errors.New("unbalanced quotes")
				}
				c := line[i]
				if c == '\\' && i+1 < len(line) && line[i+1] == '\'' {
					b.WriteByte('\'')
					i += 2
					continue
				}
				i++
				if c == '\'' {
					if i < len(line) && !isBlank(line[i]) {
						return nil, errors.New("a closing quote must be followed by a blank")
					}
					break
				}
				b.WriteByte(c)
			}
		default:
			for i < len(line) && !isBlank(line[i]) {
				b.WriteByte(line[i])
				i++
			}
		}
		args = append(args, b.String())
	}
}

// isBlank is C's isspace, which sdssplitargs uses.
func isBlank(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

func isHex(c byte) bool { return strings.IndexByte("0123456789abcdefABCDEF", c) >= 0 }

var (
	integerRe  = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)
	hostnameRe = regexp.MustCompile(`^[A-Za-z0-9.-]*$`)
	memoryRe   = regexp.MustCompile(`(?i)^([0-9]+)(b|k|kb|m|mb|g|gb)?$`)
)

// checkRedisValue checks the arguments of one option; the message names the problem.
func checkRedisValue(o redisOption, args []string) error {
	if o.multiArg() && len(args) == 1 && args[0] != "" {
		args = strings.Split(args[0], " ")
	}
	one := func() (string, error) {
		if len(args) != 1 {
			return "", fmt.Errorf("takes one value, not %d", len(args))
		}
		return args[0], nil
	}
	switch o.kind {
	case kindBool:
		v, err := one()
		if err == nil && !strings.EqualFold(v, "yes") && !strings.EqualFold(v, "no") {
			err = fmt.Errorf("%q: yes or no", v)
		}
		return err
	case kindInt:
		v, err := one()
		if err != nil {
			return err
		}
		return checkInt(v, o.min, o.max)
	case kindMemory:
		v, err := one()
		if err != nil {
			return err
		}
		if o.percent && strings.HasSuffix(v, "%") {
			if n, err := strconv.ParseInt(strings.TrimSuffix(v, "%"), 10, 64); err != nil || n < 0 || !integerRe.MatchString(strings.TrimSuffix(v, "%")) {
				return fmt.Errorf("%q: a percentage is a non-negative integer followed by %%", v)
			}
			return nil
		}
		return checkMemory(v, o.min, o.max)
	case kindEnum:
		if len(args) == 0 || !o.multi && len(args) != 1 {
			return fmt.Errorf("takes one of %s", strings.Join(o.values, ", "))
		}
		for _, v := range args {
			if !containsFold(o.values, v) {
				return fmt.Errorf("%q: one of %s", v, strings.Join(o.values, ", "))
			}
		}
		return nil
	case kindString:
		_, err := one()
		return err
	case kindFilename:
		v, err := one()
		if err == nil && (strings.ContainsRune(v, '/') || v == "" || v == "." || v == "..") {
			err = fmt.Errorf("%q: a name, not a path", v)
		}
		return err
	case kindHostname:
		v, err := one()
		if err == nil && !hostnameRe.MatchString(v) {
			err = fmt.Errorf("%q: only letters, digits, '-' and '.'", v)
		}
		return err
	case kindSave:
		if len(args) == 1 && args[0] == "" {
			return nil
		}
		if len(args)%2 != 0 {
			return errors.New(`takes pairs of seconds and changes ("900 1 300 10"), or "" to disable snapshots`)
		}
		for _, v := range args {
			if err := checkInt(v, 0, maxInt64); err != nil {
				return err
			}
		}
		return nil
	case kindClientOutputBufferLimit:
		if len(args) == 0 || len(args)%4 != 0 {
			return errors.New("takes groups of four: class (normal, replica, pubsub), hard limit, soft limit, soft seconds")
		}
		for i := 0; i < len(args); i += 4 {
			if !containsFold([]string{"normal", "replica", "slave", "pubsub"}, args[i]) {
				return fmt.Errorf("%q: the class is normal, replica or pubsub", args[i])
			}
			for _, v := range args[i+1 : i+3] {
				if err := checkMemory(v, 0, maxInt64); err != nil {
					return err
				}
			}
			if err := checkInt(args[i+3], 0, maxInt64); err != nil {
				return err
			}
		}
		return nil
	case kindKeyspaceEvents:
		v, err := one()
		if err != nil {
			return err
		}
		for _, c := range v {
			if !strings.ContainsRune("Ag$lshzxeKEtmdn", c) {
				return fmt.Errorf("%q: only the characters of Ag$lshzxeKEtmdn", v)
			}
		}
		return nil
	case kindOOMScoreAdjValues:
		if len(args) != 3 {
			return errors.New("takes three values (master, replica, background child), each -2000..2000")
		}
		for _, v := range args {
			if err := checkInt(v, -2000, 2000); err != nil {
				return err
			}
		}
		return nil
	case kindPercentiles:
		if len(args) == 1 && args[0] == "" {
			return nil
		}
		for _, v := range args {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 || f > 100 {
				return fmt.Errorf("%q: percentiles are numbers from 0 to 100", v)
			}
		}
		return nil
	}
	return fmt.Errorf("unknown kind %d", o.kind)
}

func checkInt(v string, lo, hi int64) error {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || !integerRe.MatchString(v) {
		return fmt.Errorf("%q is not an integer", v)
	}
	if n < lo || n > hi {
		return fmt.Errorf("%d: must be between %d and %d", n, lo, hi)
	}
	return nil
}

func checkMemory(v string, lo, hi int64) error {
	m := memoryRe.FindStringSubmatch(v)
	if m == nil {
		return fmt.Errorf("%q is not a memory size (bytes, or a number with b, k, kb, m, mb, g or gb)", v)
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	mul := map[string]int64{"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000 * 1000, "mb": 1024 * 1024,
		"g": 1000 * 1000 * 1000, "gb": 1024 * 1024 * 1024}[strings.ToLower(m[2])]
	if err != nil || n > hi/mul {
		return fmt.Errorf("%q is too large", v)
	}
	if n*mul < lo || n*mul > hi {
		return fmt.Errorf("%q: must be between %d and %d bytes", v, lo, hi)
	}
	return nil
}

func containsFold(list []string, v string) bool {
	for _, s := range list {
		if strings.EqualFold(s, v) {
			return true
		}
	}
	return false
}

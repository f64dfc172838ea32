package local

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// Config is the configuration of a local RedisFailover (`redhook local`).
type Config struct {
	Files        []string  // files with the RedisFailover and its auth Secret; "-" is Stdin
	Stdin        io.Reader // read for the file "-"
	DataDir      string    // empty: a temporary directory removed at the end
	PasswordFile string
	BaseIP       net.IP // redis pod i gets BaseIP+i, sentinel j gets BaseIP+256+j
	MasterPort   int    // a port on 127.0.0.1 that leads to the current master; 0: none
	RestartDelay time.Duration
	RedisServer  string
	RedisCli     string
}

// Validate reports every problem of the configuration.
func (c Config) Validate() error {
	var errs []error
	if len(c.Files) == 0 {
		errs = append(errs, errors.New("-f FILE is required"))
	}
	if ip := c.BaseIP.To4(); ip == nil || ip[0] != 127 {
		errs = append(errs, errors.New("--base-ip: want an IPv4 loopback address (127.x.y.z)"))
	}
	if c.MasterPort < 0 || c.MasterPort > 65535 {
		errs = append(errs, fmt.Errorf("--master-port %d: not a port", c.MasterPort))
	}
	if c.RestartDelay < 0 {
		errs = append(errs, fmt.Errorf("--restart-delay %s: must not be negative", c.RestartDelay))
	}
	if c.RedisServer == "" || c.RedisCli == "" {
		errs = append(errs, errors.New("--redis-server and --redis-cli must name a binary"))
	}
	return errors.Join(errs...)
}

// readPasswordFile returns the password in path, without a trailing newline.
func readPasswordFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	pw := string(b)
	for len(pw) > 0 && (pw[len(pw)-1] == '\n' || pw[len(pw)-1] == '\r') {
		pw = pw[:len(pw)-1]
	}
	if pw == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return pw, nil
}

package rediscluster

import (
	"errors"
	"regexp"
	"strings"
)

// authArgs finds where Redis quotes the arguments of AUTH or AUTH2 in an error (an unknown or
// renamed MIGRATE: "unknown command 'MIGRATE', with args beginning with: … 'AUTH2' 'default'
// '<password>' …"); Redis truncates the quoted arguments, so a prefix of the password may be
// all that shows.
var authArgs = regexp.MustCompile(`(?i)'auth2?'`)

// redact is text without the password: every occurrence of it is replaced, and whatever
// follows a quoted AUTH or AUTH2 argument is cut. Every error text goes through it before it
// is logged, recorded in an ActionRecord or reported.
func redact(text, password string) string {
	if password != "" {
		text = strings.ReplaceAll(text, password, "[redacted]")
	}
	if loc := authArgs.FindStringIndex(text); loc != nil {
		text = text[:loc[1]] + " [arguments redacted]"
	}
	return text
}

// redactErr is err with its text redacted; err itself when there was nothing to redact (so
// that errors.Is still finds errOutOfTime and errSkipped).
func redactErr(err error, password string) error {
	if err == nil {
		return nil
	}
	text := redact(err.Error(), password)
	if text == err.Error() {
		return err
	}
	return errors.New(text)
}

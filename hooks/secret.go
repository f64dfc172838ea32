package hooks

// Secret holds a password. It prints and marshals as "[redacted]" so that it cannot leak into a
// log line, a status or a metric by accident; Value returns the real thing.
type Secret struct{ value string }

// NewSecret wraps a password.
func NewSecret(v string) Secret { return Secret{value: v} }

const redacted = "[redacted]"

// Value returns the password. Call it only where the password is sent to Redis or rendered
// into a Kubernetes Secret.
func (s Secret) Value() string { return s.value }

// IsSet tells whether a password is present.
func (s Secret) IsSet() bool { return s.value != "" }

func (s Secret) String() string {
	if s.value == "" {
		return ""
	}
	return redacted
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return s.String() }

// MarshalJSON keeps json.Marshal (and zerolog's Interface) from printing the value.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

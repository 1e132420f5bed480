package s3policy

import "fmt"

// Error is a policy document S3 refuses (MalformedPolicy). Message says why in words fit
// for the client that sent it: it names the statement and the element at fault, never
// anything but what the client sent.
type Error struct {
	Message string
}

// Error implements error.
func (e *Error) Error() string { return "s3policy: " + e.Message }

func malformed(format string, args ...any) error {
	return &Error{Message: fmt.Sprintf(format, args...)}
}

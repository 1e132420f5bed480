package s3api

import (
	"errors"

	"stratus/internal/sigv4"
)

// authHeader is a parsed SigV4 Authorization header.
type authHeader = sigv4.AuthHeader

// parseAuthorization parses a SigV4 Authorization header (see sigv4.ParseAuthorization).
// Errors match ErrAuthorizationHeaderMalformed, or ErrUnsupportedSignature for a header that
// is not SigV4.
func parseAuthorization(s string) (authHeader, error) {
	h, err := sigv4.ParseAuthorization(s)
	var m *sigv4.MalformedError
	switch {
	case err == nil:
		return h, nil
	case errors.Is(err, sigv4.ErrNotSigV4):
		return authHeader{}, ErrUnsupportedSignature
	case errors.As(err, &m):
		return authHeader{}, errorf(ErrAuthorizationHeaderMalformed, m.Message)
	}
	return authHeader{}, err
}

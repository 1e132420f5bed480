package pki

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
)

// PeerOf verifies the caller of an HTTP request: the client certificate of its TLS
// connection, or the chain an in-process caller attached (see internal/inproc).
func (id *Identity) PeerOf(r *http.Request) (Peer, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return Peer{}, fmt.Errorf("%w: %w", ErrUnauthenticated, ErrNoCertificate)
	}
	return id.Verify(r.TLS.PeerCertificates)
}

// Authorize verifies r's caller and checks that its role is one of roles.
func (id *Identity) Authorize(r *http.Request, what string, roles ...Role) (Peer, error) {
	p, err := id.PeerOf(r)
	if err != nil {
		return p, err
	}
	return p, Permit(p, what, roles...)
}

// Status returns the HTTP status for a refusal from this package: 401 for a caller without
// a valid certificate, 403 for a role that may not, 0 for other errors.
func Status(err error) int {
	switch {
	case errors.Is(err, ErrUnauthenticated):
		return http.StatusUnauthorized
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	}
	return 0
}

// ConnectionState is what an in-process caller with this identity puts in its requests'
// TLS field, in place of a handshake.
func (id *Identity) ConnectionState() *tls.ConnectionState {
	return &tls.ConnectionState{Version: tls.VersionTLS13, HandshakeComplete: true, PeerCertificates: id.Chain()}
}

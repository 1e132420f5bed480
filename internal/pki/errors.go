package pki

import "errors"

// Errors a Verifier returns. Each refusal wraps ErrUnauthenticated (the caller proved no
// valid identity: answer 401) or ErrForbidden (a valid identity whose role may not do this:
// answer 403).
var (
	// ErrUnauthenticated is wrapped by every refusal of the caller's certificate itself.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrNoCertificate: the connection carries no client certificate (plain HTTP, or TLS
	// without one).
	ErrNoCertificate = errors.New("no client certificate: this port requires mutual TLS with a certificate from the cluster CA (stratus ca issue)")
	// ErrUnknownCA: the certificate was not signed by this cluster's CA.
	ErrUnknownCA = errors.New("certificate was not issued by this cluster's CA")
	// ErrExpired: the certificate is outside its validity period.
	ErrExpired = errors.New("certificate is expired or not yet valid")
	// ErrRevoked: the certificate's serial is on the CA's revocation list.
	ErrRevoked = errors.New("certificate is revoked")
	// ErrNoRole: the certificate names no role this cluster knows.
	ErrNoRole = errors.New("certificate carries no stratus role")

	// ErrForbidden is wrapped by refusals of a valid caller whose role may not do this.
	ErrForbidden = errors.New("forbidden")

	// ErrExists: InitCA found a CA already in the directory.
	ErrExists = errors.New("already exists")
)

// Package pki is the cluster's trust: one certificate authority per cluster, certificates that
// carry a role, and the TLS configurations and checks every internal port and client uses.
//
// A certificate's role is the single OrganizationalUnit of its subject, under the organization
// "stratus" (see Role). Every daemon presents its own certificate as server and as client;
// operators' tools present an admin certificate. Servers ask for a client certificate during
// the handshake but verify it afterwards, with Verifier, so that a refused caller gets an
// answer in the server's own protocol that says why ("expired at …", "not issued by this
// cluster's CA", "role proxy may not …") rather than a bare TLS alert. Every request still
// passes through that check: a server must call Verifier.Peer before it acts.
//
// Files (all PEM; keys are written 0600 in 0700 directories):
//
//	ca.crt, ca.key      the cluster CA (ca.key never leaves the operator's machine)
//	<name>.crt, .key    a node's or operator's certificate and key
//	crl.pem             revoked serials, signed by the CA; daemons reread it when it changes
//
// Caveats: revocation reaches a daemon only through its CRL file (copy crl.pem to every host,
// as with certificates); a daemon notices a replaced certificate, key or CRL within
// ReloadInterval.
package pki

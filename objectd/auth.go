package objectd

import (
	"net"
	"net/http"
	"strings"

	"stratus/internal/pki"
	"stratus/objectd/client"
)

// Who may call what, when the node has an Identity. Proxies read and write objects (and so
// does a peer, which may serve a read or a handoff for them); only storage nodes replicate,
// since a push writes any version of any name and the hashes list what a partition holds.
// Chunks (volume blocks) are for the volume daemons that write them and the storage nodes
// that will heal them; a proxy never touches them, so no S3 caller can reach a volume.
// Volume daemons also store snapshots as objects, through the object routes, but only under
// client.SnapshotNamePrefix (guardObject), so they reach no S3 data either. Compute daemons
// read the objects images are registered from, so they may read (GET and HEAD) any name but
// a snapshot's, and write or delete only names under client.ImageNamePrefix: the images they
// save from instances' root disks.
var (
	objectRoles      = []pki.Role{pki.RoleProxy, pki.RoleObjectd}
	replicationRoles = []pki.Role{pki.RoleObjectd}
	chunkRoles       = []pki.Role{pki.RoleVolumed, pki.RoleObjectd}
)

// guard returns h preceded by the caller check: a valid certificate from the cluster CA and,
// if roles are given, one of them. A refused request is answered before anything of it is
// read. Without an Identity there is nothing to check against and h runs as is.
func (s *Server) guard(what string, roles []pki.Role, h http.HandlerFunc) http.HandlerFunc {
	id := s.cfg.Identity
	if id == nil {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		var err error
		if len(roles) > 0 {
			_, err = id.Authorize(r, what, roles...)
		} else {
			_, err = id.PeerOf(r)
		}
		if err != nil {
			s.refuse(w, r, err)
			return
		}
		h(w, r)
	}
}

// guardObject is guard for an object route (pattern with {name}): proxies and storage
// nodes may call it for any name, volume daemons for snapshot names only. The name is
// checked as the handler will read it, from the decoded path segment.
func (s *Server) guardObject(what string, h http.HandlerFunc) http.HandlerFunc {
	id := s.cfg.Identity
	if id == nil {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := id.PeerOf(r)
		if err == nil {
			name, derr := client.DecodeName(r.PathValue("name"))
			switch p.Role {
			case pki.RoleVolumed:
				if derr != nil || !strings.HasPrefix(name, client.SnapshotNamePrefix) {
					err = pki.Permit(p, what+" outside "+client.SnapshotNamePrefix, objectRoles...)
				}
			case pki.RoleComputed:
				if r.Method != http.MethodGet && r.Method != http.MethodHead {
					if derr != nil || !strings.HasPrefix(name, client.ImageNamePrefix) {
						err = pki.Permit(p, what+" outside "+client.ImageNamePrefix, objectRoles...)
					}
				} else if derr != nil || strings.HasPrefix(name, client.SnapshotNamePrefix) {
					err = pki.Permit(p, what+" under "+client.SnapshotNamePrefix, objectRoles...)
				}
			default:
				err = pki.Permit(p, what, objectRoles...)
			}
		}
		if err != nil {
			s.refuse(w, r, err)
			return
		}
		h(w, r)
	}
}

// refuse answers a request whose caller failed the check, with the wire code for 401 or 403
// and pki's reason (expired, wrong CA, wrong role…) as the body, so the operator on the
// other side sees why.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, err error) {
	sentinel := client.ErrUnauthenticated
	if pki.Status(err) == http.StatusForbidden {
		sentinel = client.ErrForbidden
	}
	code, status := client.ErrorCode(sentinel)
	if n, ok := s.refusals.allow(remoteHost(r), 1); ok {
		s.log.Warn("caller refused", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr,
			"refused_since_last_line", n, "err", err)
	}
	w.Header().Set(client.HeaderError, code)
	http.Error(w, err.Error(), status)
}

func remoteHost(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

package pki

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// renewBefore is how long before expiry Ensure replaces a certificate it issued.
const renewBefore = 30 * 24 * time.Hour

// Ensure makes dir a self-contained trust directory, as the all-in-one server and tests use
// one: a CA (created if missing) and, for each request, <Name>.crt and .key issued by it,
// issued again when missing, unusable, lacking a requested host or within 30 days of expiry.
// It returns the identities.
func Ensure(dir, clusterName string, reqs ...IssueRequest) ([]*Identity, error) {
	ca, err := LoadCA(dir)
	if errors.Is(err, os.ErrNotExist) {
		ca, err = InitCA(dir, clusterName)
	}
	if err != nil {
		return nil, fmt.Errorf("cluster CA in %s: %w", dir, err)
	}
	ids := make([]*Identity, 0, len(reqs))
	for _, req := range reqs {
		files := InDir(dir, req.Name)
		id, err := Load(files)
		if err != nil || !current(id, req) {
			if err := ca.IssueTo(dir, req.Name, req); err != nil {
				return nil, err
			}
			if id, err = Load(files); err != nil {
				return nil, err
			}
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// current reports whether id's certificate still serves req: its role, every requested host,
// and more than renewBefore of validity left.
func current(id *Identity, req IssueRequest) bool {
	leaf := id.Chain()[0]
	if id.Role() != req.Role || time.Until(leaf.NotAfter) < renewBefore {
		return false
	}
	for _, h := range req.Hosts {
		if leaf.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}

// IssueTo issues a certificate for req and writes it into dir as <file>.crt and <file>.key.
func (ca *CA) IssueTo(dir, file string, req IssueRequest) error {
	if file == "" || file != filepath.Base(file) || file == "ca" {
		return fmt.Errorf("certificate file name %q: want a plain name other than ca", file)
	}
	cert, key, err := ca.Issue(req)
	if err != nil {
		return err
	}
	return WriteFiles(dir, map[string][]byte{file + ".crt": cert, file + ".key": key})
}

package nbd

import (
	"context"
	"errors"
	"syscall"
)

// Errors an Exports or Export returns to choose what the client is told. Anything else an
// Export returns becomes EIO (or the protocol's error for a matching syscall.Errno, see
// errnoOf); anything else Exports.Lookup returns becomes NBD_REP_ERR_UNKNOWN.
var (
	// ErrUnknownExport is returned by Exports.Lookup when no export has the name asked
	// for. The client is told NBD_REP_ERR_UNKNOWN.
	ErrUnknownExport = errors.New("nbd: unknown export")
	// ErrRefused is returned by Exports.Lookup or Exports.List when the export exists (or
	// the listing is possible) but policy forbids it for this client. The client is told
	// NBD_REP_ERR_POLICY.
	ErrRefused = errors.New("nbd: refused by policy")
	// ErrNoSpace is returned by an Export's write methods when the backing store is full.
	// The client is told ENOSPC.
	ErrNoSpace = errors.New("nbd: no space left")
	// ErrReadOnly is returned by an Export's write methods when it cannot be written just
	// now. The client is told EPERM.
	ErrReadOnly = errors.New("nbd: export is read-only")
	// ErrInvalid is returned by an Export when a request is well-formed for the protocol
	// but not for the export (an alignment it cannot serve, say). The client is told EINVAL.
	ErrInvalid = errors.New("nbd: invalid request")
	// ErrNotFast is returned by Zeroer.Zero, having changed nothing, when ZeroFlags.Fast is
	// set and zeroing would be no faster than writing. The client is told ENOTSUP and
	// writes the zeroes itself.
	ErrNotFast = errors.New("nbd: zeroing is not fast")
)

// errnoOf maps an error from an Export to the error the client is told. It is the only
// such table; the first match wins.
func errnoOf(err error) errno {
	switch {
	case err == nil:
		return errnoOK
	case errors.Is(err, ErrNotFast):
		return errnoNotSup
	case errors.Is(err, ErrNoSpace), errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT),
		errors.Is(err, syscall.EFBIG):
		return errnoNoSpace
	case errors.Is(err, ErrReadOnly), errors.Is(err, syscall.EROFS), errors.Is(err, syscall.EPERM),
		errors.Is(err, syscall.EACCES):
		return errnoPerm
	case errors.Is(err, ErrInvalid), errors.Is(err, syscall.EINVAL):
		return errnoInval
	case errors.Is(err, context.Canceled):
		// The server cancels requests only when it shuts down (past ShutdownTimeout).
		return errnoShutdown
	}
	return errnoIO
}

// optErrOf maps an error from Exports to the option reply the client is told.
func optErrOf(err error) uint32 {
	switch {
	case errors.Is(err, ErrRefused):
		return repErrPolicy
	case errors.Is(err, context.Canceled):
		return repErrShutdown
	}
	return repErrUnknown
}

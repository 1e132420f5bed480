package nbd

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"
)

// TestErrnoOf walks the error table: each sentinel (wrapped, as an Export would return
// it) and each mapped system error gives its protocol error; anything else is EIO.
func TestErrnoOf(t *testing.T) {
	tests := []struct {
		err  error
		want errno
	}{
		{nil, errnoOK},
		{ErrNotFast, errnoNotSup},
		{ErrNoSpace, errnoNoSpace},
		{syscall.ENOSPC, errnoNoSpace},
		{syscall.EDQUOT, errnoNoSpace},
		{syscall.EFBIG, errnoNoSpace},
		{ErrReadOnly, errnoPerm},
		{syscall.EROFS, errnoPerm},
		{&fs.PathError{Op: "write", Path: "/x", Err: syscall.EACCES}, errnoPerm},
		{ErrInvalid, errnoInval},
		{syscall.EINVAL, errnoInval},
		{context.Canceled, errnoShutdown},
		{context.DeadlineExceeded, errnoIO},
		{syscall.EIO, errnoIO},
		{errors.New("anything else"), errnoIO},
	}
	for _, tc := range tests {
		err := tc.err
		if err != nil {
			err = fmt.Errorf("chunk 7 of volume v: %w", err)
		}
		if got := errnoOf(err); got != tc.want {
			t.Errorf("errnoOf(%v) = %v, want %v", err, got, tc.want)
		}
	}
	for _, tc := range []struct {
		err  error
		want uint32
	}{
		{fmt.Errorf("x: %w", ErrUnknownExport), repErrUnknown},
		{fmt.Errorf("x: %w", ErrRefused), repErrPolicy},
		{context.Canceled, repErrShutdown},
		{errors.New("backend down"), repErrUnknown},
	} {
		if got := optErrOf(tc.err); got != tc.want {
			t.Errorf("optErrOf(%v) = %#x, want %#x", tc.err, got, tc.want)
		}
	}
}

package volumed

import (
	"errors"

	vclient "stratus/volumed/client"
)

var (
	// The lease's errors, from volumed/client.
	ErrHeld    = vclient.ErrHeld
	ErrFenced  = vclient.ErrFenced
	ErrExpired = vclient.ErrExpired
	ErrState   = vclient.ErrState
	// ErrShrink is returned by Resize for a size below the current one: volumes only grow.
	ErrShrink = errors.New("volumed: volumes can only grow")
)

// HeldError says who holds a volume's live lease. It matches ErrHeld.
type HeldError = vclient.HeldError

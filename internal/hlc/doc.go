// Package hlc implements hybrid logical clock timestamps: 48 bits of wall-clock milliseconds
// and 16 bits of logical counter in one uint64, so that timestamps from different machines
// order by wall time, and events on one machine (or causally after a timestamp it has seen)
// always order strictly after what came before, even when the wall clock steps back.
//
// Timestamps are compared as plain integers. Their text form is 16 lowercase hex digits, which
// sorts the same way as the numbers; object files on disk are named by it.
package hlc

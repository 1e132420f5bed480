// Package faultfs is a thin file-system interface over package os, and a wrapper that injects
// errors into chosen operations on chosen paths: a write that fails with ENOSPC after some
// bytes, a rename or fsync that fails. Code that must survive such faults takes an FS and
// production passes OS.
//
// Only the operations storage code needs are here; add more as callers need them.
package faultfs

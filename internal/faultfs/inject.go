package faultfs

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
)

// ErrInjected is the error an Injector returns when a rule fires without its own error.
var ErrInjected = errors.New("faultfs: injected fault")

// Op names an operation a Rule can fail.
type Op string

// The operations an Injector can fail.
const (
	OpOpen   Op = "open"
	OpWrite  Op = "write" // Write and WriteAt
	OpSync   Op = "sync"
	OpRename Op = "rename"
	OpRemove Op = "remove"
	OpMkdir  Op = "mkdir"
)

// Rule says which operation fails and how. A rule with AfterBytes > 0 applies to writes and
// lets that many bytes through per file before failing, the way a disk fills up mid-object.
type Rule struct {
	Op Op
	// PathContains restricts the rule to paths containing this text; empty matches all.
	PathContains string
	// AfterBytes lets this many bytes be written to each matching file before writes fail.
	AfterBytes int64
	// Err is returned when the rule fires; nil means ErrInjected.
	Err error
}

// Injector wraps an FS and fails operations that match its rules. It is safe for concurrent
// use; rules can be changed while files are open.
type Injector struct {
	base  FS
	mu    sync.Mutex
	rules []Rule
	fired int
}

// New returns an Injector over base with no rules.
func New(base FS) *Injector { return &Injector{base: base} }

// Set replaces the rules.
func (in *Injector) Set(rules ...Rule) {
	in.mu.Lock()
	in.rules = append([]Rule(nil), rules...)
	in.mu.Unlock()
}

// Fired returns how many times a rule has fired.
func (in *Injector) Fired() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.fired
}

// match returns the first rule for op on path, if any.
func (in *Injector) match(op Op, path string) (Rule, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, r := range in.rules {
		if r.Op == op && strings.Contains(path, r.PathContains) {
			return r, true
		}
	}
	return Rule{}, false
}

func (in *Injector) fail(r Rule, op Op, path string) error {
	in.mu.Lock()
	in.fired++
	in.mu.Unlock()
	err := r.Err
	if err == nil {
		err = ErrInjected
	}
	return &fs.PathError{Op: string(op), Path: path, Err: err}
}

func (in *Injector) check(op Op, path string) error {
	if r, ok := in.match(op, path); ok && r.AfterBytes == 0 {
		return in.fail(r, op, path)
	}
	return nil
}

// OpenFile implements FS.
func (in *Injector) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	if err := in.check(OpOpen, name); err != nil {
		return nil, err
	}
	f, err := in.base.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &file{File: f, in: in}, nil
}

// Rename implements FS.
func (in *Injector) Rename(oldpath, newpath string) error {
	if err := in.check(OpRename, newpath); err != nil {
		return err
	}
	return in.base.Rename(oldpath, newpath)
}

// Remove implements FS.
func (in *Injector) Remove(name string) error {
	if err := in.check(OpRemove, name); err != nil {
		return err
	}
	return in.base.Remove(name)
}

// Mkdir implements FS.
func (in *Injector) Mkdir(name string, perm fs.FileMode) error {
	if err := in.check(OpMkdir, name); err != nil {
		return err
	}
	return in.base.Mkdir(name, perm)
}

// ReadDir implements FS.
func (in *Injector) ReadDir(name string) ([]fs.DirEntry, error) { return in.base.ReadDir(name) }

// Stat implements FS.
func (in *Injector) Stat(name string) (fs.FileInfo, error) { return in.base.Stat(name) }

type file struct {
	File
	in      *Injector
	mu      sync.Mutex
	written int64
}

// allow returns how many of n bytes may be written, and the error to return after them.
func (f *file) allow(n int) (int, error) {
	r, ok := f.in.match(OpWrite, f.Name())
	if !ok {
		return n, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	left := r.AfterBytes - f.written
	if left >= int64(n) {
		f.written += int64(n)
		return n, nil
	}
	if left < 0 {
		left = 0
	}
	f.written += left
	return int(left), f.in.fail(r, OpWrite, f.Name())
}

func (f *file) Write(p []byte) (int, error) {
	n, ferr := f.allow(len(p))
	m, err := f.File.Write(p[:n])
	if err != nil {
		return m, err
	}
	return m, ferr
}

func (f *file) WriteAt(p []byte, off int64) (int, error) {
	n, ferr := f.allow(len(p))
	m, err := f.File.WriteAt(p[:n], off)
	if err != nil {
		return m, err
	}
	return m, ferr
}

func (f *file) Sync() error {
	if err := f.in.check(OpSync, f.Name()); err != nil {
		return err
	}
	return f.File.Sync()
}

var _ FS = (*Injector)(nil)

// String describes the rules, for test failure messages.
func (in *Injector) String() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return fmt.Sprintf("faultfs.Injector%+v", in.rules)
}

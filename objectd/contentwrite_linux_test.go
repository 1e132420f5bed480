package objectd

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// BenchmarkContentWrite measures what writing one 1 MiB body durably costs the process in
// CPU (user and kernel, from getrusage): through the page cache in the store's 256 KiB
// writes (as copyContent does, with startWriteback), through the page cache in one 1 MiB
// write, and with O_DIRECT from an aligned buffer, which skips the copy into the page cache
// but needs a record layout whose content starts at an aligned offset. Every variant
// preallocates and ends with fsync, as write does.
func BenchmarkContentWrite(b *testing.B) {
	const size = 1 << 20
	dir := b.TempDir()
	raw := make([]byte, size+4096)
	off := int(4096 - uintptr(unsafe.Pointer(&raw[0]))%4096)
	buf := raw[off : off+size] // 4 KiB aligned, as O_DIRECT requires
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	cases := []struct {
		name  string
		flags int
		chunk int
	}{
		{"buffered-256KiB", 0, bufSize},
		{"buffered-1MiB", 0, size},
		{"odirect-1MiB", syscall.O_DIRECT, size},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(size)
			cpu0 := rusageCPU()
			i := 0
			for b.Loop() {
				name := filepath.Join(dir, fmt.Sprintf("%d.tmp", i))
				i++
				f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY|c.flags, 0o644)
				if err != nil {
					b.Fatal(err)
				}
				if err := preallocate(f, size); err != nil {
					b.Fatal(err)
				}
				for o := 0; o < size; o += c.chunk {
					if _, err := f.Write(buf[o : o+c.chunk]); err != nil {
						b.Fatal(err)
					}
					if c.flags == 0 && (o+c.chunk)%writebackBytes == 0 {
						startWriteback(f, int64(o+c.chunk-writebackBytes), writebackBytes)
					}
				}
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
				f.Close()
				os.Remove(name)
			}
			b.ReportMetric(float64(rusageCPU()-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
		})
	}
}

func rusageCPU() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

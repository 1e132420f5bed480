package bench

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Ceilings are what the machine itself can do, measured in the same run as a benchmark so
// that the two can be compared on a shared, noisy machine.
type Ceilings struct {
	// DiskSeqWriteBytesPerSecond is fsync'd sequential writing: 4 MiB files, each written
	// and fsynced, 256 MiB in all.
	DiskSeqWriteBytesPerSecond float64 `json:"disk_seq_write_bytes_per_second"`
	// DSync4KWritesPerSecond is 4 KiB O_DSYNC writes per second from 8 writers at once.
	DSync4KWritesPerSecond float64 `json:"dsync_4k_writes_per_second"`
	// LoopbackTCPBytesPerSecond is one TCP stream over 127.0.0.1.
	LoopbackTCPBytesPerSecond float64 `json:"loopback_tcp_bytes_per_second"`
}

// MeasureCeilings measures the disk under dir and the loopback network.
func MeasureCeilings(dir string) (Ceilings, error) {
	var c Ceilings
	var err error
	if c.DiskSeqWriteBytesPerSecond, err = diskSeqWrite(dir); err != nil {
		return c, err
	}
	if c.DSync4KWritesPerSecond, err = dsync4K(dir, 8, 2*time.Second); err != nil {
		return c, err
	}
	c.LoopbackTCPBytesPerSecond, err = loopbackTCP(1 << 30)
	return c, err
}

func diskSeqWrite(dir string) (float64, error) {
	buf := make([]byte, 4<<20)
	const files = 64
	start := time.Now()
	for i := range files {
		name := filepath.Join(dir, fmt.Sprintf("ceiling-%d", i))
		f, err := os.Create(name)
		if err != nil {
			return 0, err
		}
		_, err = f.Write(buf)
		if err == nil {
			err = f.Sync()
		}
		f.Close()
		os.Remove(name)
		if err != nil {
			return 0, err
		}
	}
	return float64(files*len(buf)) / time.Since(start).Seconds(), nil
}

func dsync4K(dir string, writers int, d time.Duration) (float64, error) {
	var ops atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	deadline := time.Now().Add(d)
	for w := range writers {
		wg.Go(func() {
			name := filepath.Join(dir, fmt.Sprintf("dsync-%d", w))
			f, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC|syncFlag, 0o600)
			if err != nil {
				errs <- err
				return
			}
			defer os.Remove(name)
			defer f.Close()
			buf := make([]byte, 4096)
			for i := int64(0); time.Now().Before(deadline); i++ {
				if _, err := f.WriteAt(buf, (i%256)*4096); err != nil {
					errs <- err
					return
				}
				ops.Add(1)
			}
		})
	}
	start := time.Now()
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return float64(ops.Load()) / time.Since(start).Seconds(), nil
}

func loopbackTCP(n int64) (float64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		_, err = io.Copy(io.Discard, c)
		done <- err
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return 0, err
	}
	buf := make([]byte, 1<<20)
	start := time.Now()
	for sent := int64(0); sent < n; sent += int64(len(buf)) {
		if _, err := c.Write(buf); err != nil {
			c.Close()
			return 0, err
		}
	}
	c.Close()
	if err := <-done; err != nil {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

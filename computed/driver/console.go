package driver

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// ConsoleOutputMax is how much of the console log EC2's GetConsoleOutput returns: its last
// 64 KiB.
const ConsoleOutputMax = 64 << 10

// ConsoleOutput returns the last max bytes of the console log at path. A log that does not
// exist yet (the instance has not started) reads as empty.
func ConsoleOutput(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("console log: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("console log: %w", err)
	}
	off := st.Size() - max
	if off < 0 {
		off = 0
	}
	// Read what is there now; the log may grow while we read, and a bounded read keeps the
	// answer to max bytes.
	buf := make([]byte, st.Size()-off)
	n, err := f.ReadAt(buf, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("console log: %w", err)
	}
	return buf[:n], nil
}

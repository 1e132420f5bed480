package testutil

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Main runs the tests of a package that needs nothing else from TestMain, under
// WatchTimeout.
func Main(m *testing.M) {
	stop := WatchTimeout()
	code := m.Run()
	stop()
	os.Exit(code)
}

// timeoutMargin is how long before -test.timeout WatchTimeout reports.
const timeoutMargin = 20 * time.Second

// WatchTimeout reports a test binary that is about to reach -test.timeout, and exits it.
// The testing package would print every goroutine's stack, thousands of lines with servers
// running, and whoever reads the end of a CI log would not see which test hung. This prints
// the same stacks and then, last, only those of the goroutines running tests. Call it from
// TestMain right before m.Run (the testing package's clock starts there), and the returned
// stop right after; it parses the flags.
func WatchTimeout() (stop func()) {
	if !flag.Parsed() {
		flag.Parse()
	}
	f := flag.Lookup("test.timeout")
	if f == nil {
		return func() {}
	}
	d, ok := f.Value.(flag.Getter).Get().(time.Duration)
	if !ok || d <= 2*timeoutMargin {
		return func() {}
	}
	start := time.Now()
	t := time.AfterFunc(d-timeoutMargin, func() {
		all := Stacks()
		fmt.Fprintf(os.Stderr, "every goroutine, %v into the run:\n%s\n\n", time.Since(start).Round(time.Second), all)
		fmt.Fprintf(os.Stderr, "the tests were still running %v into the run (-test.timeout %v):\n\n%s\n",
			time.Since(start).Round(time.Second), d, strings.Join(testGoroutines(all), "\n\n"))
		os.Exit(2)
	})
	return func() { t.Stop() }
}

// Stacks returns every goroutine's stack.
func Stacks() string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return string(buf[:n])
		}
		buf = make([]byte, 2*len(buf))
	}
}

// testGoroutines returns the stacks in all of goroutines that run a test function.
func testGoroutines(all string) []string {
	var out []string
	for _, g := range strings.Split(all, "\n\n") {
		if strings.Contains(g, "testing.tRunner(") {
			out = append(out, g)
		}
	}
	return out
}

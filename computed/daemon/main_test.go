package daemon_test

import (
	"fmt"
	"os"
	"testing"

	"stratus/internal/testguest"
	"stratus/internal/testutil"
)

func TestMain(m *testing.M) {
	stop := testutil.WatchTimeout()
	code := m.Run()
	stop()
	// The boot test may have started virtlogd and libvirtd; stop those (only those).
	if err := testguest.StopDaemons(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

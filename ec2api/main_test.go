package ec2api

import (
	"testing"

	"stratus/internal/testutil"
)

// TestMain says which test hung, should one run into -test.timeout.
func TestMain(m *testing.M) { testutil.Main(m) }

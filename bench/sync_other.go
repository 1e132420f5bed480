//go:build !linux

package bench

import "os"

// syncFlag makes every write durable before it returns.
const syncFlag = os.O_SYNC

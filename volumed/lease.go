package volumed

import (
	"time"

	"stratus/meta/client"
	vclient "stratus/volumed/client"
)

// The attachment lease's protocol lives in volumed/client, where other parts (computed)
// reach it without the daemon; these names keep the daemon's own callers as they were.

// DefaultLeaseTTL is how long a lease lasts unless renewed.
const DefaultLeaseTTL = vclient.DefaultLeaseTTL

// MaxGeneration is the highest generation a volume can be attached with.
const MaxGeneration = vclient.MaxGeneration

// Lease is a held attachment lease.
type Lease = vclient.Lease

var (
	Attach = vclient.Attach
	Renew  = vclient.Renew
	Detach = vclient.Detach
	Evict  = vclient.Evict
	Keep   = vclient.Keep
)

// live reports whether a is a lease that has not expired at now.
func live(a *client.VolumeAttachment, now time.Time) bool { return vclient.Live(a, now) }

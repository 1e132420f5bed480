package metatest

// LeakMarks name the code of a meta node, its client and raft: pass them to
// testutil.MainCheckingLeaks (with a package's own) in the TestMain of packages that start
// meta nodes.
var LeakMarks = []string{"stratus/meta.", "stratus/meta/client.", "hashicorp/raft"}

// Package metatest runs in-process meta clusters for tests: nodes on 127.0.0.1 with random
// ports and data under t.TempDir, a fault network that partitions nodes from their peers, and
// helpers to stop, restart and find the leader. Other packages' tests use it to get a real
// catalog without a separate process.
package metatest

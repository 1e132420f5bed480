// Package chaos is the fault-tolerance suite. Its tests start a real multi-process Stratus
// cluster on 127.0.0.x addresses (three meta voters, storage nodes with two devices each
// across three zones, two S3 proxies, a ring built with `stratus ring`), drive S3 load
// through both proxies while they kill, pause, wipe, corrupt, fill and cut off parts of
// it, and then check that every acknowledged write reads back and every acknowledged
// delete stays deleted. The volume scenarios (volume_test.go) start storage nodes only and
// write a volume through volumed's chunk device, detached afterwards: a node that was down
// is healed by its own replicator, and blocks damaged on disk by the node's auditor. The
// small-object log scenarios (smallobj_test.go) switch objectd's log on: bit rot inside log
// records, and objectd SIGKILLed in the middle of compacting its log. The erasure-coded
// scenarios (ec_scenarios_test.go) run three hosts of two devices with an EC 4+2 policy
// (its ring built with `stratus ring`, the bucket created on it): a host killed under load
// (acknowledged writes checked, a known loss after failed overwrites reported; write and
// read availability while it is down reported), a
// device wiped and bit rot in fragment archives (the storage nodes' reconstructors rebuild
// every archive byte for byte, checked on disk, and every object reads back with another
// host down).
//
// `go test ./internal/chaos` runs the short form of every scenario; `make chaos` runs the
// long forms (see the -chaos.* flags).
package chaos

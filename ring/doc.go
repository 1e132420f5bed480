// Package ring places data: it maps an object name to a partition, and a partition to the
// devices that hold its replicas, in the manner of OpenStack Swift's ring.
//
// A ring has 2^PartPower partitions and an integer number of replicas R. Each partition is
// assigned R distinct devices (its primaries). Devices carry a failure-domain path —
// region, zone, host (the IP of Host, so several daemons on one machine share a domain) and
// the device itself — and a weight, the share of data they should hold.
//
// Two types divide the work:
//
//   - [Ring] is what daemons load: an immutable placement table with lookups
//     ([Ring.Partition], [Ring.Primaries], [Ring.Handoffs]) that are safe for concurrent use.
//   - [Builder] is what operators edit: devices, weights, the replica plan and, per partition,
//     when a replica last moved. [Builder.Rebalance] turns it into a new assignment and
//     [Builder.Ring] into a Ring.
//
// Replicas are an integer, not fractional as in Swift: a fractional count exists in Swift
// only to step a cluster between replica counts, and it makes quorum sizes depend on the
// partition. Stratus changes the replica count with one rebalance instead.
//
// Invariants kept by the builder after every rebalance: every partition has R distinct
// devices present in the ring; every device holds its quota — its weight's share, within
// one partition-replica — unless min_part_hours pins the partitions that would move; and no
// partition holds more replicas in a failure domain than the plan allows (the domain's
// share of the weights, widened by the overload towards even spread). [Builder.Check]
// verifies the first; [Builder.Stats] measures the others.
//
// The package does no I/O beyond reading and writing its own files, imports nothing of
// Stratus, and logs nothing: callers get reports and errors back.
//
// Its report types (Stats, Report, Diff) carry no JSON tags and are not a wire format:
// they are in the units that suit the code (percentages, +Inf for a drained device that
// still holds data). `stratus ring --json` defines the machine-readable schema.
package ring

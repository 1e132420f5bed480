// Package client is how the other parts reach volumed's protocol: the attachment lease of a
// volume, kept as conditional writes of its record in meta (Attach, Renew, Detach, Keep,
// Evict). A compute host takes a volume's lease for its host and the host's volumed, which
// follows the volumes table, serves the volume and renews the lease; volumed uses the same
// functions. The snapshot requests are here too (RequestSnapshot, AwaitSnapshot,
// RequestSnapshotDelete, CreateVolumeFromSnapshot): they change records only, and the
// volume daemons do the work they ask for. It imports meta's client only, never the daemon.
package client

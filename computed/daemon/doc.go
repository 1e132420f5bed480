// Package daemon is computed: the per-host compute daemon. It registers its host in the
// catalog (table compute_hosts) and heartbeats it, follows the instances table for the
// instances placed on its host, and drives each toward the state the API asked for: it
// fetches images from the object store into the verified cache, makes root-disk overlays and
// config drives, defines and starts libvirt domains through computed/driver, attaches volumes
// through the host's volumed (taking each volume's attachment lease), tails each serial
// console into the instance's record, saves a stopped instance's root disk as an image when
// the API asks (CreateImage: flattened to qcow2 and written to the object store under
// ".image/<id>/", saveimage.go), removes the images it saved once they are deregistered
// (reapimages.go), and tears everything down at termination. After a
// restart it compares the hypervisor's domains with the records: nothing is lost, and
// domains without a live record are removed. Each instance directory records the cached
// images its domain uses (imagesinuse.go), which the bounded cache never evicts; each
// launch's phases are timed into stratus_computed_launch_phase_seconds.
//
// One worker goroutine per instance carries out its changes, so a slow image download holds
// up only its own instance; a worker reads the record fresh before each step and writes it
// back conditionally, since the EC2 API writes the same record.
package daemon

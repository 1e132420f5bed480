// Package driver is the contract between the compute daemon and the hypervisor of its host:
// define, start, stop and undefine instances, attach and detach volumes live, and list what
// the hypervisor holds so the daemon can reconcile it with the catalog.
//
// A Driver knows nothing of the catalog, of images or of S3: the daemon hands it a Spec whose
// files (kernel, initrd, root-disk overlay, config drive) already exist on the host. Every
// method takes a context and returns by its deadline even if the hypervisor does not answer
// (a driver with no deadline in the context applies its own). Instances are named by
// Spec.Name, which must be unique on the host (the EC2 instance ID is the natural choice).
//
// The one implementation is computed/libvirtdriver.
package driver

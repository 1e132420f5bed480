// Package libvirtdriver implements computed/driver.Driver on libvirt, through the C library
// (libvirt.org/go/libvirt, cgo: building needs libvirt-dev) and domain XML written with
// libvirt.org/go/libvirtxml.
//
// The connection URI is configuration: qemu:///system on a compute host, test:///default
// for unit tests (libvirt's in-process mock hypervisor, which needs no daemon).
//
// libvirt calls block in C and cannot be cancelled, so each runs on its own goroutine and
// the caller returns at its context's deadline (Config.CallTimeout when the context has
// none) with the call left to finish in the background. A connection to a daemon also has
// libvirt keepalives on, so a daemon that stops answering is noticed and its blocked calls
// fail instead of piling up.
//
// Domain XML choices (see docs/compute.md): ACPI on (a guest cannot power itself off, nor
// take a power-button press, without it); the serial console to a file; virtio for disks
// and NIC; the config drive as an IDE CD-ROM (so volumes keep the virtio names vdb, vdc, …);
// NBD volumes as network disks carrying the volume ID as the disk serial; no USB, balloon or video
// (nothing uses them and each costs boot time under TCG); power-off destroys the domain.
package libvirtdriver

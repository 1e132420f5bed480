// Package testguest builds the tiny guest that compute tests boot: a Debian cloud kernel
// (uncompressed to an ELF vmlinux where the compression is one we can undo, because QEMU's
// PVH entry skips the in-guest decompressor, which costs seconds under TCG) and an initramfs
// holding busybox-static, the kernel modules the guest needs (virtio, CD-ROM, ISO 9660, each
// with its dependencies) and an /init script.
//
// The /init script:
//   - mounts proc, sys and dev and loads the modules in dependency order;
//   - prints BootMarker on the serial console (ttyS0);
//   - runs busybox acpid so the power button powers it off, printing PowerButton (unless
//     stratus.acpi=ignore, which makes it a guest that ignores a graceful stop);
//   - mounts a NoCloud config drive (label cidata, on a CD-ROM) if one is attached and prints
//     its user-data between UserDataBegin and UserDataEnd;
//   - prints a DiskLine for each virtio disk present at boot (name, size, serial);
//   - with a root disk (vda, no volume serial), prints RootFound with the marker an earlier
//     boot left in its first block, then writes RootMarker and the instance ID (from the
//     config drive's meta-data) there and prints RootWritten;
//   - with stratus.dhcp=1 on the kernel command line, configures eth0 by DHCP and prints
//     NetLine with the address it got;
//   - with stratus.listen=1, answers on TCP port 22 with SSHBanner and prints ListenLine;
//   - waits up to stratus.wait=SECONDS (kernel command line) for a volume to appear, so a test
//     can attach one live after the guest started;
//   - for every virtio disk whose serial starts with "vol", prints VolumeFound with the
//     marker already in its first block, if any, then writes a 512-byte block that starts
//     with VolumeMarker followed by the disk's serial, flushes it, and prints VolumeWritten;
//   - prints DoneMarker and powers off (ACPI: the domain needs <features><acpi/>).
//
// Everything comes from Debian packages fetched with apt-get download (nothing is installed
// into /boot). The result is cached once per machine under the user cache directory, keyed by
// the package versions and this package's build recipe, so only the first test on a machine
// pays for the download (tens of MB) and the build.
package testguest

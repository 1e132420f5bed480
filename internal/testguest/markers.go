package testguest

// Lines the guest prints on its serial console, and the block it writes to volumes. Tests
// look for them in the console log and in the volume's bytes.
const (
	BootMarker    = "STRATUS-TESTGUEST-BOOTED"
	UserDataBegin = "STRATUS-USERDATA-BEGIN"
	UserDataEnd   = "STRATUS-USERDATA-END"
	VolumeMarker  = "STRATUS-VOLUME-MARKER"
	VolumeWritten = "STRATUS-VOLUME-WRITTEN"
	// VolumeFound starts "STRATUS-VOLUME-FOUND SERIAL LINE": a volume already held a
	// marker (LINE, an earlier boot's, naming the volume it was written to) before this
	// boot wrote its own.
	VolumeFound = "STRATUS-VOLUME-FOUND"
	// RootMarker starts the first block the guest writes to its root disk (vda, a disk
	// without a volume's serial), followed by the instance ID from the config drive, and
	// prints RootWritten with that ID; RootFound starts "STRATUS-ROOT-FOUND LINE" when the
	// disk already held a marker (LINE) at boot: an image saved from an earlier instance.
	RootMarker  = "STRATUS-ROOT-MARKER"
	RootWritten = "STRATUS-ROOT-WRITTEN"
	RootFound   = "STRATUS-ROOT-FOUND"
	DoneMarker  = "STRATUS-TESTGUEST-DONE"
	// DiskLine starts a line "STRATUS-DISK vdX SECTORS SERIAL" for each virtio disk the
	// guest found at boot.
	DiskLine = "STRATUS-DISK"
	// NetLine starts "STRATUS-NET eth0 ADDRESS" once DHCP (stratus.dhcp=1) configured the
	// guest's NIC.
	NetLine = "STRATUS-NET"
	// ListenLine is printed once the guest answers on TCP port 22 (stratus.listen=1) with
	// SSHBanner, so a test can reach the guest through a forwarded port.
	ListenLine = "STRATUS-LISTENING 22"
	SSHBanner  = "SSH-2.0-stratus-testguest"
	// ACPIReady is printed once the guest listens for the power button (unless
	// stratus.acpi=ignore), and PowerButton when it got a press and powers off.
	ACPIReady   = "STRATUS-ACPID"
	PowerButton = "STRATUS-POWER-BUTTON"
)

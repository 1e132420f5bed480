#!/bin/busybox sh
# /init of the Stratus test guest. PID 1: it must never exit, only power off.
/bin/busybox mkdir -p /proc /sys /dev /tmp /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /lib/modules/load.order); do
	insmod "/lib/modules/$m" 2>/dev/null
done
echo "STRATUS-TESTGUEST-BOOTED"

# The config drive: a CD-ROM labelled cidata (cloud-init's NoCloud convention).
for i in 1 2 3 4 5; do [ -b /dev/sr0 ] && break; sleep 0.2; done
if [ -b /dev/sr0 ]; then
	mkdir -p /cidata
	if mount -t iso9660 -o ro /dev/sr0 /cidata 2>/dev/null; then
		echo "STRATUS-USERDATA-BEGIN"
		cat /cidata/user-data
		echo
		echo "STRATUS-USERDATA-END"
		iid="$(sed -n 's/.*"instance-id": *"\([^"]*\)".*/\1/p' /cidata/meta-data)"
		umount /cidata
	fi
fi

# Every virtio disk the guest found, with its size in 512-byte sectors and its serial.
for d in /sys/block/vd*; do
	[ -d "$d" ] || continue
	echo "STRATUS-DISK ${d##*/} $(cat "$d/size") $(cat "$d/serial" 2>/dev/null)"
done

# The root disk (vda without a volume's serial): print the marker an earlier boot left in
# its first block, if any, then leave this boot's, so an image saved from the disk shows
# which instance wrote it when it boots elsewhere.
if [ -b /dev/vda ] && case "$(cat /sys/block/vda/serial 2>/dev/null)" in vol*) false ;; *) true ;; esac; then
	found="$(head -c 512 /dev/vda | head -n 1 | tr -d '\000')"
	case "$found" in STRATUS-ROOT-MARKER*) echo "STRATUS-ROOT-FOUND $found" ;; esac
	printf 'STRATUS-ROOT-MARKER %s\n' "${iid:-unknown}" > /tmp/rootmarker
	if dd if=/tmp/rootmarker of=/dev/vda bs=512 count=1 conv=sync,fsync 2>/dev/null; then
		sync
		blockdev --flushbufs /dev/vda
		echo "STRATUS-ROOT-WRITTEN ${iid:-unknown}"
	fi
fi

volumes() {
	for s in /sys/block/vd*/serial; do
		[ -f "$s" ] || continue
		case "$(cat "$s")" in vol*) echo "${s%/serial}" ;; esac
	done
}

# stratus.wait=N: wait up to N seconds for a volume attached after boot.
# stratus.dhcp=1: configure eth0 by DHCP first.
# stratus.listen=1: then answer on TCP port 22 with an SSH-style banner line.
# stratus.acpi=ignore: leave the power button unanswered, like a hung guest.
wait=0
dhcp=0
listen=0
acpi=on
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	stratus.wait=*) wait="${arg#stratus.wait=}" ;;
	stratus.dhcp=*) dhcp="${arg#stratus.dhcp=}" ;;
	stratus.listen=*) listen="${arg#stratus.listen=}" ;;
	stratus.acpi=*) acpi="${arg#stratus.acpi=}" ;;
	esac
done

# The power button (a host's graceful stop) powers the guest off. busybox acpid runs the
# handler named by its action table (PWRF/00000080) or by the event (button/power).
if [ "$acpi" != ignore ]; then
	for h in /etc/acpi/PWRF/00000080 /etc/acpi/button/power; do
		mkdir -p "${h%/*}"
		printf '#!/bin/sh\necho STRATUS-POWER-BUTTON > /dev/console\nsync\npoweroff -f\n' > "$h"
		chmod 755 "$h"
	done
	acpid -c /etc/acpi -l /tmp/acpid.log && echo "STRATUS-ACPID"
fi

if [ "$dhcp" = 1 ]; then
	ip link set lo up
	if [ -e /sys/class/net/eth0 ]; then
		ip link set eth0 up
		udhcpc -i eth0 -n -q -t 10 -T 1 -s /bin/dhcp-event >/dev/null 2>&1 || echo "STRATUS-NET eth0 none"
	else
		echo "STRATUS-NET none"
	fi
fi
if [ "$listen" = 1 ]; then
	nc -ll -p 22 -e /bin/ssh-banner &
	echo "STRATUS-LISTENING 22"
fi
n=0
while [ -z "$(volumes)" ] && [ "$n" -lt "$((wait * 5))" ]; do sleep 0.2; n=$((n + 1)); done

for d in $(volumes); do
	dev="/dev/${d##*/}"
	serial="$(cat "$d/serial")"
	found="$(head -c 512 "$dev" | head -n 1 | tr -d '\000')"
	case "$found" in STRATUS-VOLUME-MARKER*) echo "STRATUS-VOLUME-FOUND $serial $found" ;; esac
	printf 'STRATUS-VOLUME-MARKER %s\n' "$serial" > /tmp/marker
	if dd if=/tmp/marker of="$dev" bs=512 count=1 conv=sync,fsync 2>/dev/null; then
		sync
		blockdev --flushbufs "$dev"
		echo "STRATUS-VOLUME-WRITTEN $serial"
	else
		echo "STRATUS-VOLUME-FAILED $serial"
	fi
done

echo "STRATUS-TESTGUEST-DONE"
sync
poweroff -f
# poweroff -f only returns if ACPI is missing; keep PID 1 alive so the kernel does not panic.
while true; do sleep 60; done

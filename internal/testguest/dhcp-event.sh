#!/bin/sh
# udhcpc's event script: configure the lease it got and say so on the console.
case "$1" in
bound | renew)
	ip addr flush dev "$interface"
	ip addr add "$ip/${mask:-24}" dev "$interface"
	[ -n "$router" ] && ip route add default via "${router%% *}" dev "$interface"
	echo "STRATUS-NET $interface $ip" > /dev/console
	;;
esac
exit 0

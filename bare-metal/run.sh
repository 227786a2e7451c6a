#!/bin/sh
# Runs a firmware image on QEMU's microbit machine (make bare-metal-check).
#   run.sh firmware.elf     the scenarios: must exit 0, print "bare-metal: ok"
#                           and sizes that agree with arm-none-eabi-size
#   run.sh -f image.elf     a footprint program: must exit 0 and say so
# The firmware's exit status comes through semihosting (SYS_EXIT_EXTENDED):
# a failure can never look like success. A hang ends after 120 s.
set -u
QEMU_ARM=${QEMU_ARM:-qemu-system-arm}
ARM_SIZE=${ARM_SIZE:-arm-none-eabi-size}
mode=firmware
[ "$1" = -f ] && { mode=footprint; shift; }
elf=$1
out=$(timeout 120 "$QEMU_ARM" -M microbit -nographic -semihosting-config enable=on,target=native \
	-kernel "$elf" </dev/null 2>&1)
rc=$?
fail() {
	printf '%s\n' "$out"
	echo "bare-metal-check: $elf: $1"
	exit 1
}
[ $rc -eq 0 ] || fail "exit status $rc"
if [ $mode = footprint ]; then
	printf '%s\n' "$out" | grep -q '^footprint: ok, stack [0-9]*$' || fail "no 'footprint: ok'"
	echo "bare-metal-check: $(basename "$elf"): $(printf '%s\n' "$out" | grep '^footprint:')"
	exit 0
fi
printf '%s\n' "$out"
printf '%s\n' "$out" | grep -qx 'bare-metal: ok' || fail "no 'bare-metal: ok'"
sizes=$("$ARM_SIZE" "$elf" | awk 'NR == 2 { print "text " $1 " data " $2 " bss " $3 " " }')
printf '%s\n' "$out" | grep -q "^bare-metal: $sizes" || fail "sizes differ from $ARM_SIZE: $sizes"

#!/bin/sh
# Runs firmware images on QEMU's microbit machine (make bare-metal-check).
#   run.sh firmware.elf [footprint.elf ...]
# The firmware passes when it exits 0, prints "bare-metal: scenarios N
# passed, 0 failed" and "bare-metal: ok", and prints sizes that agree with
# arm-none-eabi-size; a footprint program when it exits 0 and says
# "footprint: ok". The exit status comes through semihosting
# (SYS_EXIT_EXTENDED): a failure can never look like success. A hang ends
# after 120 s. Ends with "bare-metal: P passed, F failed" (the firmware's
# scenarios and the footprint programs) and exits 0 when F is 0.
set -u
QEMU_ARM=${QEMU_ARM:-qemu-system-arm}
ARM_SIZE=${ARM_SIZE:-arm-none-eabi-size}
passed=0
failed=0

run() {
	out=$(timeout 120 "$QEMU_ARM" -M microbit -nographic \
		-semihosting-config enable=on,target=native -kernel "$1" </dev/null 2>&1)
	rc=$?
}

# the firmware: its own count of scenarios, then the checks of its end
fw=$1
shift
run "$fw"
printf '%s\n' "$out"
counts=$(printf '%s\n' "$out" | sed -n 's/^bare-metal: scenarios \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p')
set -- ${counts:-0 1} "$@"
passed=$((passed + $1))
failed=$((failed + $2))
shift 2
why=
[ $rc -eq 0 ] || why="exit status $rc"
[ -n "$why" ] || printf '%s\n' "$out" | grep -qx 'bare-metal: ok' || why="no 'bare-metal: ok'"
if [ -z "$why" ]; then
	sizes=$("$ARM_SIZE" "$fw" | awk 'NR == 2 { print "text " $1 " data " $2 " bss " $3 " " }')
	printf '%s\n' "$out" | grep -q "^bare-metal: $sizes" || why="sizes differ from $ARM_SIZE: $sizes"
fi
if [ -n "$why" ]; then
	echo "bare-metal-check: $fw: $why"
	[ "$failed" -gt 0 ] || failed=1
fi

# the footprint programs
for elf in "$@"; do
	run "$elf"
	if [ $rc -eq 0 ] && printf '%s\n' "$out" | grep -q '^footprint: ok, stack [0-9]*$'; then
		echo "bare-metal-check: $(basename "$elf"): $(printf '%s\n' "$out" | grep '^footprint:')"
		passed=$((passed + 1))
	else
		printf '%s\n' "$out"
		echo "bare-metal-check: $elf: exit status $rc, no 'footprint: ok'"
		failed=$((failed + 1))
	fi
done
echo "bare-metal: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

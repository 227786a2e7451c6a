# Reads a GNU ld map file of the client-only Cortex-M0 image and prints the
# footprint figures: the core's code and read-only data in the image (input
# sections .text* and .rodata* from libsmtpc-arm.a), each object's share, and
# fails (exit 1) when anything from core/server.c was linked or a goal is
# missed. Variables: core (text of all core objects), conn (sizeof smtpc_conn
# at a queue of 8), goal_img, goal_core, goal_conn.
function hex(s,    i, c, v) {
	v = 0
	s = tolower(s)
	sub(/^0x/, "", s)
	for (i = 1; i <= length(s); i++) {
		c = index("0123456789abcdef", substr(s, i, 1)) - 1
		v = v * 16 + c
	}
	return v
}
function add(sec, size, file,    obj) {
	if (sec !~ /^\.(text|rodata)/ || file !~ /libsmtpc-arm\.a\(/)
		return
	obj = file
	sub(/.*\(/, "", obj)
	sub(/\).*/, "", obj)
	bytes[obj] += size
	total += size
	if (obj == "server.o")
		server = server " " sec
}
/^Discarded input sections/ { skip = 1 }
/^Memory Configuration/ { skip = 1 }
/^Linker script and memory map/ { skip = 0; next }
skip { next }
# " .text.name 0xADDR 0xSIZE file" on one line, or the name alone then the rest
/^ \.[^ ]+ +0x[0-9a-f]+ +0x[0-9a-f]+ / { add($1, hex($3), $4); pending = ""; next }
/^ \.[^ ]+$/ { pending = $1; next }
pending != "" && /^ +0x[0-9a-f]+ +0x[0-9a-f]+ / { add(pending, hex($2), $3); pending = ""; next }
{ pending = "" }
END {
	conn = hex(conn)
	printf "cross: client-only image, core share by object:"
	for (o in bytes)
		printf " %s %d", o, bytes[o]
	printf "\n"
	printf "cross: core text in the client-only image: %d bytes (goal %d)\n", total, goal_img
	printf "cross: text of all core objects: %d bytes (goal %d)\n", core, goal_core
	printf "cross: sizeof(smtpc_conn) with SMTPC_QUEUE_CAP 8: %d bytes (goal %d)\n", conn, goal_conn
	if (server != "") {
		printf "cross: FAIL: server code in the client-only image:%s\n", server
		exit 1
	}
	if (total == 0) {
		print "cross: FAIL: no core code found in the map"
		exit 1
	}
	if (total > goal_img || core > goal_core || conn > goal_conn)
		print "cross: a footprint goal is not met (see above)"
}

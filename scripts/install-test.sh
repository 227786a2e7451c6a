#!/bin/sh
# Builds a tiny program against each pkg-config file of an install under
# DESTDIR and runs it: the core alone (static, nothing else linked), the
# core with io-posix (libsmtpc.so, no BearSSL), and the TLS layer
# (libsmtpc-bearssl.so and BearSSL).
#
#   install-test.sh DESTDIR PREFIX
set -u
dest=$1
prefix=$2
lib=$dest$prefix/lib
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export PKG_CONFIG_PATH="$lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$dest" PKG_CONFIG_LIBDIR=
passed=0
failed=0

ok() { passed=$((passed + 1)); echo "PASS $1"; }
bad() { failed=$((failed + 1)); echo "FAIL $1: $2"; }

# build NAME PC: compiles $tmp/NAME.c with PC's flags; 0 on success
build() {
	flags=$(pkg-config --cflags --libs "$2") || return 1
	# shellcheck disable=SC2086
	${CC:-cc} -std=c99 -Wall -Werror -o "$tmp/$1" "$tmp/$1.c" $flags 2>"$tmp/$1.err"
}

# the shared libraries a program loads, by name
needs() { LD_LIBRARY_PATH="$lib" ldd "$tmp/$1" | awk '{print $1}' | tr '\n' ' '; }

cat >"$tmp/core.c" <<'C'
#include <string.h>
#include <smtpc.h>
int main(void)
{
	static unsigned char rx[8192], tx[1024];
	smtpc_conn c;
	size_t n;
	const unsigned char *out;
	if (smtpc_init(&c, NULL, rx, sizeof rx, tx, sizeof tx) != SMTPC_ERR_OK)
		return 1;
	smtpc_event ev;

	smtpc_feed(&c, "220 hi\r\n", 8);
	while (smtpc_next_event(&c, &ev) != SMTPC_EV_NEED_DATA)
		if (ev.type == SMTPC_EV_ERROR)
			return 2;
	if (smtpc_ehlo(&c, "client.example") != SMTPC_ERR_OK)
		return 3;
	out = smtpc_send_buf(&c, &n);
	return n == 21 && memcmp(out, "EHLO client.example\r\n", 21) == 0 ? 0 : 4;
}
C
if build core smtpc-core && "$tmp/core"; then
	case " $(needs core) " in
	*smtpc* | *bearssl*) bad smtpc-core "links more than the core: $(needs core)" ;;
	*) ok "smtpc-core: static, loads only $(needs core)" ;;
	esac
else
	bad smtpc-core "$(cat "$tmp/core.err")"
fi

cat >"$tmp/posix.c" <<'C'
#include <smtpc_posix.h>
int main(void)
{
	smtpc_posix_opts o;
	smtpc_posix *p;

	smtpc_posix_opts_default(&o);
	p = smtpc_posix_new(&o);
	if (p == NULL || smtpc_posix_core(p) == NULL || smtpc_posix_fd(p) != -1)
		return 1;
	smtpc_posix_free(p);
	return 0;
}
C
if build posix smtpc && LD_LIBRARY_PATH="$lib" "$tmp/posix"; then
	case " $(needs posix) " in
	*bearssl*) bad smtpc "a POSIX-only program links BearSSL: $(needs posix)" ;;
	*libsmtpc.so.0*) ok "smtpc: loads $(needs posix)" ;;
	*) bad smtpc "not linked to libsmtpc.so.0: $(needs posix)" ;;
	esac
else
	bad smtpc "$(cat "$tmp/posix.err" 2>/dev/null)"
fi

cat >"$tmp/tls.c" <<'C'
#include <smtpc_posix_tls.h>
int main(void)
{
	static unsigned char rx[8192], tx[1024], buf[SMTPC_BEARSSL_BUF_MIN];
	smtpc_conn c;
	smtpc_bearssl t;
	smtpc_bearssl_client_opts o = {NULL, "mail.example.com", 1, 1};
	unsigned char rnd[32];

	if (smtpc_init(&c, NULL, rx, sizeof rx, tx, sizeof tx) != SMTPC_ERR_OK ||
	    smtpc_bearssl_client_init(&t, &c, &o, buf, sizeof buf) != SMTPC_BEARSSL_ERR_OK ||
	    smtpc_posix_entropy(rnd, sizeof rnd) != 0)
		return 1;
	smtpc_bearssl_entropy(&t, rnd, sizeof rnd);
	smtpc_feed(&c, "220 hi\r\n", 8); /* STARTTLS mode: plaintext until the pause */
	return (smtpc_bearssl_want(&t) & SMTPC_BEARSSL_WANT_EVENT) ? 0 : 2;
}
C
if build tls smtpc-bearssl && LD_LIBRARY_PATH="$lib" "$tmp/tls"; then
	case " $(needs tls) " in
	*libsmtpc-bearssl.so.0*libbearssl* | *libbearssl*libsmtpc-bearssl.so.0*)
		ok "smtpc-bearssl: loads $(needs tls)" ;;
	*) bad smtpc-bearssl "not linked to libsmtpc-bearssl.so.0 and BearSSL: $(needs tls)" ;;
	esac
else
	bad smtpc-bearssl "$(cat "$tmp/tls.err" 2>/dev/null)"
fi

echo "install: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

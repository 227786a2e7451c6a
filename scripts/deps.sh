#!/bin/sh
# Makes sure what `make check` needs is installed. Installs the missing
# Debian packages when it can (root, or sudo without a password); otherwise
# prints the exact command to run and fails.
set -u
# With --demo, only what `make demo` needs.
need=""
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
all="libcriterion-dev libbearssl-dev gcovr clang gcc-arm-none-eabi libnewlib-arm-none-eabi
	python3 python3-aiosmtpd postfix libuv1-dev openssl ca-certificates curl swaks msmtp
	qemu-system-arm liblwip-dev pkgconf git git-email libmailtools-perl clang-format"
[ "${1:-}" = --demo ] && all="gcc libbearssl-dev"
for p in $all; do
	have_pkg "$p" || need="$need $p"
done
[ -z "$need" ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
	echo "deps: missing:$need (not a Debian system: install them by hand)" >&2
	exit 1
fi
# postfix only for its smtp-sink: no mail system configuration
pre="echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections"
cmd="$pre; apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends$need"
if [ "$(id -u)" = 0 ]; then
	echo "deps: installing:$need"
	sh -c "$cmd" >/dev/null || { echo "deps: failed: $cmd" >&2; exit 1; }
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
	echo "deps: installing with sudo:$need"
	sudo sh -c "$cmd" >/dev/null || { echo "deps: failed: sudo sh -c '$cmd'" >&2; exit 1; }
else
	echo "deps: missing packages. Run:" >&2
	echo "  sudo sh -c '$cmd'" >&2
	exit 1
fi

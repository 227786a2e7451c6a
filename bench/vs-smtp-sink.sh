#!/bin/sh
# smtpc sink against Postfix's smtp-sink, each fed by smtpc bench and by
# smtp-source; then 10,000 concurrent connections to smtpc sink. See
# vs_smtp_sink.py. Installs Postfix if missing.
set -eu
cd "$(dirname "$0")/.."
if ! command -v smtp-source >/dev/null 2>&1 && [ ! -x /usr/sbin/smtp-source ]; then
	echo "installing postfix (for smtp-source and smtp-sink)"
	SUDO=
	[ "$(id -u)" = 0 ] || SUDO=sudo
	echo 'postfix postfix/main_mailer_type select No configuration' | $SUDO debconf-set-selections
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends postfix >/dev/null
fi
[ -x build/smtpc ] || make V=rel lib >/dev/null
exec python3 bench/vs_smtp_sink.py "$@"

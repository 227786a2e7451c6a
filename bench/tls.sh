#!/bin/sh
# smtpc bench over TLS beside plaintext against smtpc sink; see tls.py.
set -eu
cd "$(dirname "$0")/.."
make V=rel lib >/dev/null
exec python3 bench/tls.py "$@"

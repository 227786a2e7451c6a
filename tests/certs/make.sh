#!/bin/sh
# Makes the certificates the Criterion TLS tests use (tests/test_tls.c), with
# fixed validity dates: the tests set their clock to 2030-06-01, so these
# files never expire. Run from anywhere; writes next to this script.
#
#   ca.pem         test CA (EC P-256), its key ca.key
#   inter.pem      intermediate CA signed by ca
#   good.pem       mail.example.com, EC, serverAuth, 2024-2124 (from ca)
#   good-rsa.pem   mail.example.com, RSA 2048, PKCS#1 key (from ca)
#   chain.pem      mail.example.com from inter: leaf then inter in one file
#   expired.pem    2020-2021;  future.pem  2040-2041
#   client.pem     extended key usage clientAuth only
#   rogue-ca.pem   another CA;  untrusted.pem  mail.example.com from it
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ec_key() { openssl ecparam -name prime256v1 -genkey -noout -out "$1"; }

ca() { # name CN [signer]
	ec_key "$1.key"
	if [ $# -eq 2 ]; then
		openssl req -x509 -new -key "$1.key" -subj "/CN=$2" -days 36500 -out "$1.pem" \
		  -addext basicConstraints=critical,CA:true -addext keyUsage=critical,keyCertSign,cRLSign
	else
		openssl req -new -key "$1.key" -subj "/CN=$2" -out "$tmp/$1.csr"
		printf 'basicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign,cRLSign\n' \
		  >"$tmp/$1.ext"
		sign "$1" "$3" 20240101000000Z 21240101000000Z
	fi
}

# sign NAME SIGNER START END: the CSR $tmp/NAME.csr with extensions $tmp/NAME.ext
sign() {
	mkdir -p "$tmp/db"
	: >"$tmp/db/index.txt"
	echo 1000 >"$tmp/db/serial"
	cat >"$tmp/ca.cnf" <<CNF
[ca]
default_ca = d
[d]
database = $tmp/db/index.txt
new_certs_dir = $tmp/db
serial = $tmp/db/serial
default_md = sha256
policy = p
unique_subject = no
[p]
commonName = supplied
CNF
	openssl ca -batch -notext -config "$tmp/ca.cnf" -cert "$2.pem" -keyfile "$2.key" \
	  -in "$tmp/$1.csr" -out "$1.pem" -startdate "$3" -enddate "$4" -extfile "$tmp/$1.ext" \
	  2>/dev/null
}

leaf() { # name signer start end eku [keytype]
	if [ "${6:-ec}" = rsa ]; then
		openssl genrsa -traditional -out "$1.key" 2048 2>/dev/null
	else
		ec_key "$1.key"
	fi
	openssl req -new -key "$1.key" -subj "/CN=mail.example.com" -out "$tmp/$1.csr"
	printf 'subjectAltName=DNS:mail.example.com\nextendedKeyUsage=%s\n' "$5" >"$tmp/$1.ext"
	sign "$1" "$2" "$3" "$4"
}

ca ca "smtpc test CA"
ca rogue-ca "unknown CA"
ca inter "smtpc test intermediate" ca
leaf good ca 20240101000000Z 21240101000000Z serverAuth
leaf good-rsa ca 20240101000000Z 21240101000000Z serverAuth,clientAuth rsa
leaf expired ca 20200101000000Z 20210101000000Z serverAuth
leaf future ca 20400101000000Z 20410101000000Z serverAuth
leaf client ca 20240101000000Z 21240101000000Z clientAuth
leaf untrusted rogue-ca 20240101000000Z 21240101000000Z serverAuth
leaf leaf-inter inter 20240101000000Z 21240101000000Z serverAuth
cat leaf-inter.pem inter.pem >chain.pem
openssl pkcs8 -topk8 -nocrypt -in leaf-inter.key -out chain.key
rm -f leaf-inter.pem leaf-inter.key ca.key rogue-ca.key inter.key

"""Test certificates, made with the openssl command in a directory:
ca.pem (a test CA), good.pem (localhost, from the CA), expired.pem,
othername.pem (mail.example.net), untrusted.pem (localhost, from another CA),
future.pem (localhost, valid from 2030), clientonly.pem (localhost, extended
key usage clientAuth only), certsignonly.pem (localhost, key usage
keyCertSign only: no use in a handshake), client-rsa.pem and client-ec.pem
(client.example, clientAuth, RSA and P-256 keys), each with its .key.
"""
import os
import subprocess


def make_certs(d):
    def openssl(*args):
        subprocess.run(["openssl"] + list(args), check=True, capture_output=True, cwd=d)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
            "-days", "30", "-subj", "/CN=smtpc test CA")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "rogue.key", "-out",
            "rogue-ca.pem", "-days", "30", "-subj", "/CN=unknown CA")

    def leaf(name, dns, days, ca="ca", ca_key="ca.key", eku=None, ku=None, ec=False):
        key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"] if ec else \
            ["-newkey", "rsa:2048"]
        openssl("req", *key, "-nodes", "-keyout", name + ".key", "-out",
                name + ".csr", "-subj", "/CN=" + dns)
        with open(os.path.join(d, name + ".ext"), "w") as f:
            f.write("subjectAltName=DNS:%s\n" % dns)
            if eku:
                f.write("extendedKeyUsage=%s\n" % eku)
            if ku:
                f.write("keyUsage=%s\n" % ku)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca_key,
                "-CAcreateserial", "-out", name + ".pem", "-days", str(days), "-extfile",
                name + ".ext")

    leaf("good", "localhost", 30)
    leaf("expired", "localhost", -1)
    leaf("othername", "mail.example.net", 30)
    leaf("untrusted", "localhost", 30, ca="rogue-ca", ca_key="rogue.key")
    leaf("certsignonly", "localhost", 30, ku="critical,keyCertSign")
    leaf("clientonly", "localhost", 30, eku="clientAuth")
    # client certificates for a server that requires one: RSA and EC
    leaf("client-rsa", "client.example", 30, eku="clientAuth")
    leaf("client-ec", "client.example", 30, eku="clientAuth", ec=True)

    # not yet valid: `openssl ca` can set the start date
    with open(os.path.join(d, "ca.cnf"), "w") as f:
        f.write("[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\n"
                "serial = serial\ndefault_md = sha256\npolicy = p\ncopy_extensions = copy\n"
                "[p]\ncommonName = supplied\n")
    open(os.path.join(d, "index.txt"), "w").close()
    with open(os.path.join(d, "serial"), "w") as f:
        f.write("1000\n")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "future.key", "-out", "future.csr",
            "-subj", "/CN=localhost")
    openssl("ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key", "-in",
            "future.csr", "-out", "future.pem", "-startdate", "20300101000000Z", "-enddate",
            "20310101000000Z", "-extfile", "good.ext")

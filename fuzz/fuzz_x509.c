/*
 * fuzz_x509: any octets as a server's certificate chain, through the TLS
 * layer's certificate checks (the DER walker for validity dates and
 * extended key usage, io-bearssl/check.c) and BearSSL's X.509 engine
 * behind them, the way the SSL engine drives them.
 *
 * Input: one octet k (a split step; 0: each certificate whole), then
 * certificates, each as a 2-octet big-endian length and that many octets.
 * The chain is pushed twice: whole, and in pieces of k octets (the last
 * piece of each certificate as it comes); the verdict and the walker's
 * findings must not depend on the split.
 */
#include <stdint.h>
#include <string.h>

#include "smtpc_bearssl.h"

/* One run; returns end_chain's verdict, and the walker's findings. */
static unsigned run(const uint8_t *data, size_t size, size_t step, unsigned char found[6])
{
	static unsigned char rx[8192], tx[1024], io[SMTPC_BEARSSL_BUF_MIN];
	static unsigned char anchor_mem[2048];
	smtpc_conn c;
	smtpc_bearssl t;
	smtpc_bearssl_anchors a;
	smtpc_bearssl_client_opts o;
	const br_x509_class **x;
	const smtpc_bearssl_check *w;
	size_t off = 1;
	unsigned r;

	smtpc_init(&c, NULL, rx, sizeof rx, tx, sizeof tx);
	smtpc_bearssl_anchors_init(&a, anchor_mem, sizeof anchor_mem);
	if (size >= 3) { /* the first certificate also serves as the anchor */
		size_t n = ((size_t)data[1] << 8) | data[2];
		if (n <= size - 3)
			smtpc_bearssl_anchors_add(&a, data + 3, n);
	}
	memset(&o, 0, sizeof o);
	o.anchors = &a;
	o.name = "mail.example.com";
	o.insecure = a.n == 0;
	if (smtpc_bearssl_client_init(&t, &c, &o, io, sizeof io) != SMTPC_BEARSSL_ERR_OK)
		return 1000;
	smtpc_bearssl_set_time(&t, 1906502400u); /* 2030-06-01 */
	if (!o.insecure)
		br_x509_minimal_set_time(&t.u.client.x.minimal, t.days, t.seconds);
	x = &t.u.client.check.vtable;
	(*x)->start_chain(x, "mail.example.com");
	while (size - off >= 2) {
		size_t n = ((size_t)data[off] << 8) | data[off + 1], done = 0;
		off += 2;
		if (n > size - off)
			n = size - off;
		(*x)->start_cert(x, (uint32_t)n);
		while (done < n) {
			size_t k = step == 0 || step > n - done ? n - done : step;
			(*x)->append(x, data + off + done, k);
			done += k;
		}
		(*x)->end_cert(x);
		off += n;
	}
	r = (*x)->end_chain(x);
	w = &t.u.client.check;
	found[0] = w->early;
	found[1] = w->late;
	found[2] = w->eku_seen;
	found[3] = w->eku_server;
	found[4] = w->eku_failed;
	found[5] = w->certs;
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char whole[6], split[6];
	unsigned r1, r2;

	if (size < 1)
		return 0;
	r1 = run(data, size, 0, whole);
	r2 = run(data, size, data[0], split);
	if (r1 != r2 || memcmp(whole, split, sizeof whole) != 0)
		__builtin_trap(); /* the verdict depends on how the chain was cut */
	return 0;
}

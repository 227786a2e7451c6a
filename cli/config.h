/* The smtpc tool's configuration file: a subset of msmtp's format.
 *
 *   # a comment
 *   defaults
 *   tls on
 *   account work
 *   host smtp.example.org
 *   from me@example.org
 *   account home : work
 *   host "mail.example.net"
 *   account default : home
 *
 * `defaults` starts a section whose settings every account defined after it
 * starts from; `account NAME [: PARENT[,PARENT...]]` starts an account that
 * starts from those defaults, then from each parent in turn (a later one
 * overrides an earlier one), then has its own settings. Values run to the
 * end of the line (white space around them is dropped); a value in double
 * quotes may hold white space and '#' (\" and \\ inside quotes). '#' at the
 * start of a line or after white space starts a comment. An empty value
 * unsets what was inherited.
 *
 * Limits (each an error naming the file and line): a line of CFG_LINE_MAX
 * octets, a value of CFG_VALUE_MAX, a name of CFG_NAME_MAX, CFG_ACCOUNTS_MAX
 * accounts, CFG_PARENTS_MAX parents, a file of CFG_FILE_MAX octets, no NUL
 * and no control octet other than tab.
 */
#ifndef SMTPC_CLI_CONFIG_H
#define SMTPC_CLI_CONFIG_H

#include <stddef.h>

#define CFG_LINE_MAX	 4096
#define CFG_VALUE_MAX	 1024
#define CFG_NAME_MAX	 64
#define CFG_ACCOUNTS_MAX 256
#define CFG_PARENTS_MAX	 16
#define CFG_FILE_MAX	 (1024 * 1024)

enum cfg_key {
	CK_HOST,
	CK_PORT,
	CK_FROM,
	CK_USER,
	CK_PASSWORD,
	CK_PASSWORDEVAL,
	CK_AUTH,
	CK_TLS,
	CK_TLS_STARTTLS,
	CK_TLS_TRUST_FILE,
	CK_TLS_CERTCHECK,
	CK_TLS_CERT_FILE,
	CK_TLS_KEY_FILE,
	CK_TLS_HOST_OVERRIDE,
	CK_PROTOCOL,
	CK_DOMAIN,
	CK_TIMEOUT,
	CK_DSN_NOTIFY,
	CK_DSN_RETURN,
	CK__COUNT
};

/* One account (or the defaults), with everything it inherited applied.
 * val[k] is NULL when the key is unset; line[k] is the line that set it. */
typedef struct cfg_account {
	char name[CFG_NAME_MAX + 1];
	char *val[CK__COUNT];
	unsigned line[CK__COUNT];
} cfg_account;

typedef struct cfg_file {
	char file[512]; /* the file's name, for messages */
	cfg_account defaults;
	cfg_account *acc;
	size_t nacc;
	int has_secret; /* a password key appears in the file */
} cfg_file;

/* Parses text (len octets, need not be NUL-terminated) into c, which the
 * call initialises. fname names the file in messages. Returns 0; or -1 with
 * "fname:line: reason" in err (err_len > 0) and c freed. Every value is
 * checked here (ports, on/off words, mechanisms, numbers). */
int cfg_parse(cfg_file *c, const char *text, size_t len, const char *fname, char *err,
	      size_t err_len);

/* Reads and parses the file at path. A file that holds `password` and is
 * readable by group or others is refused, whoever runs the tool. Returns 0;
 * 1 when the file does not exist (c untouched, err says so); -1 with the
 * reason in err. */
int cfg_load(cfg_file *c, const char *path, char *err, size_t err_len);

/* The account called name, or NULL. */
const cfg_account *cfg_find(const cfg_file *c, const char *name);

/* Frees what cfg_parse or cfg_load allocated; c may be zeroed. */
void cfg_free(cfg_file *c);

/* The keyword of a key ("tls_trust_file"). */
const char *cfg_key_name(enum cfg_key k);

/* "never", or a list of success, failure, delay, as SMTPC_NOTIFY_* bits.
 * 0, or -1 for anything else. */
int cfg_parse_notify(const char *v, unsigned *out);

/* "on"/"off" (also yes/no, true/false, 1/0): 1 or 0; -1 otherwise. */
int cfg_bool(const char *v);

#endif

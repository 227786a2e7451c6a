/*
 * errors.c - the error table.
 *
 * One X-macro (SMTPC_ERRORS in smtpc.h) gives the enum, the names, the
 * descriptions and the classes, so they cannot drift apart. The sticky
 * error of a connection is set only through smtpc__set_error: the first
 * one wins.
 *
 * Footprint. The names and the descriptions are each one string of
 * NUL-separated entries, walked to the e-th (no table of pointers: 4 octets
 * an entry saved twice on a 32-bit target), and each is its own object, so
 * a program that never calls smtpc_err_desc links no description
 * (--gc-sections). -DSMTPC_NO_ERROR_TEXT drops them from the library too:
 * smtpc_err_desc then returns the name.
 */
#include "internal.h"

#define X_NAME(name, cls, desc)	 "SMTPC_ERR_" #name "\0"
#define X_DESC(name, cls, desc)	 desc "\0"
#define X_CLASS(name, cls, desc) (unsigned char)SMTPC_CLASS_##cls,

static const char err_names[] = SMTPC_ERRORS(X_NAME);
#ifndef SMTPC_NO_ERROR_TEXT
static const char err_descs[] = SMTPC_ERRORS(X_DESC);
#endif
static const unsigned char err_classes[] = {SMTPC_ERRORS(X_CLASS)};

/* The e-th of the NUL-separated strings in s. */
static const char *nth(const char *s, unsigned e)
{
	while (e-- > 0)
		s += strlen(s) + 1;
	return s;
}

const char *smtpc_err_name(smtpc_err e)
{
	if ((unsigned)e >= (unsigned)SMTPC_ERR__COUNT)
		return "SMTPC_ERR_?";
	return nth(err_names, (unsigned)e);
}

const char *smtpc_err_desc(smtpc_err e)
{
	if ((unsigned)e >= (unsigned)SMTPC_ERR__COUNT)
		return "unknown error";
#ifdef SMTPC_NO_ERROR_TEXT
	return smtpc_err_name(e);
#else
	return nth(err_descs, (unsigned)e);
#endif
}

smtpc_errclass smtpc_err_class(smtpc_err e)
{
	if ((unsigned)e >= (unsigned)SMTPC_ERR__COUNT)
		return SMTPC_CLASS_NONE;
	return (smtpc_errclass)err_classes[e];
}

smtpc_err smtpc__set_error(smtpc_conn *c, smtpc_err e)
{
	if (c->err == SMTPC_ERR_OK)
		c->err = e;
	return c->err;
}

smtpc_err smtpc_fail(smtpc_conn *c, smtpc_err e)
{
	if (c == NULL)
		return SMTPC_ERR_NULL_ARG;
	if (c->role == NULL)
		return SMTPC_ERR_ROLE;
	if (e == SMTPC_ERR_OK || (unsigned)e >= (unsigned)SMTPC_ERR__COUNT)
		return c->err;
	return smtpc__set_error(c, e);
}

const char *smtpc_version(void)
{
	return SMTPC_VERSION;
}

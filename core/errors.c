/*
 * errors.c - the error table.
 *
 * One X-macro (SMTPC_ERRORS in smtpc.h) gives the enum, the names, the
 * descriptions and the classes, so they cannot drift apart. The sticky
 * error of a connection is set only through smtpc__set_error: the first
 * one wins.
 */
#include "internal.h"

#define X_NAME(name, cls, desc) "SMTPC_ERR_" #name,
#define X_DESC(name, cls, desc) desc,
#define X_CLASS(name, cls, desc) (unsigned char)SMTPC_CLASS_##cls,

static const char *const err_names[] = {SMTPC_ERRORS(X_NAME)};
#ifndef SMTPC_NO_ERROR_TEXT
static const char *const err_descs[] = {SMTPC_ERRORS(X_DESC)};
#endif
static const unsigned char err_classes[] = {SMTPC_ERRORS(X_CLASS)};

const char *smtpc_err_name(smtpc_err e)
{
	if ((unsigned)e >= (unsigned)SMTPC_ERR__COUNT)
		return "SMTPC_ERR_?";
	return err_names[e];
}

const char *smtpc_err_desc(smtpc_err e)
{
	if ((unsigned)e >= (unsigned)SMTPC_ERR__COUNT)
		return "unknown error";
#ifdef SMTPC_NO_ERROR_TEXT
	return err_names[e];
#else
	return err_descs[e];
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

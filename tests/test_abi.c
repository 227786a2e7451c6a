/* A program built with other caps than the library (the README suggests
 * tuning SMTPC_QUEUE_CAP): its smtpc_conn has another size, and init must
 * refuse it rather than write past it. This unit alone sees the other caps;
 * it uses no helper that shares a smtpc_conn with the rest. */
#define SMTPC_QUEUE_CAP 4u
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "smtpc.h"

Test(abi, a_program_built_with_another_queue_depth_is_refused)
{
	static unsigned char rx[8192], tx[2048];
	/* the struct this unit thinks it has, with a guard after it */
	unsigned char *mem = malloc(sizeof(smtpc_conn) + 1024);
	smtpc_conn *c = (smtpc_conn *)mem;

	memset(mem, 0xa5, sizeof(smtpc_conn) + 1024);
	cr_assert_eq(smtpc_init(c, NULL, rx, sizeof rx, tx, sizeof tx), SMTPC_ERR_ABI);
	cr_assert_eq(smtpc_server_init(c, NULL, rx, sizeof rx, tx, sizeof tx), SMTPC_ERR_ABI);
	for (size_t i = sizeof(void *); i < sizeof(smtpc_conn) + 1024; i++)
		cr_assert_eq(mem[i], 0xa5, "byte %zu written", i);
	cr_assert_eq(smtpc_noop(c), SMTPC_ERR_ROLE); /* and it refuses the rest */
	cr_assert_str_eq(smtpc_err_name(SMTPC_ERR_ABI), "SMTPC_ERR_ABI");
	free(mem);
}

/*
 * board.c - reset, vectors, the SysTick millisecond tick, semihosting and
 * the few C library functions the core needs, for QEMU's microbit machine
 * (nRF51822, Cortex-M0, 16 MHz).
 *
 * Reset: copy .data from flash, zero .bss, paint the free stack with a
 * pattern (so the deepest use can be found later), run main. main's return
 * value is the exit status. board_tick_start starts SysTick at 1 kHz.
 *
 * Semihosting (ARM's "Semihosting for AArch32 and AArch64", v2): BKPT 0xAB
 * with the operation in r0 and its argument in r1. SYS_WRITE0 prints;
 * SYS_EXIT_EXTENDED ends QEMU with the status we give, so a failure can
 * never look like success.
 */
#include <string.h>

#include "board.h"

#define SYS_WRITE0		     0x04u
#define SYS_EXIT_EXTENDED	     0x20u
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define CPU_HZ	 16000000u

#define PAINT 0xC5C5C5C5u

extern uint32_t __text_end[], __data_start[], __data_end[], __bss_start[], __bss_end[];
extern uint32_t __stack_top[];

int main(void);
void board_reset(void);
static void on_fault(void);
static void on_tick(void);

static volatile uint32_t ticks;

/* Cortex-M0 exception vectors (ARMv6-M B1.5.2); no peripheral interrupt is
 * enabled, so the table stops after SysTick. */
/* clang-format off */
__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
	(void (*)(void))(uintptr_t)__stack_top,
	board_reset,
	on_fault, /* NMI */
	on_fault, /* HardFault */
	0, 0, 0, 0, 0, 0, 0,
	on_fault, /* SVCall */
	0, 0,
	on_fault, /* PendSV */
	on_tick,  /* SysTick */
};
/* clang-format on */

static uint32_t semihost(uint32_t op, const void *arg)
{
	register uint32_t r0 __asm__("r0") = op;
	register const void *r1 __asm__("r1") = arg;

	__asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
	return r0;
}

static uint32_t sp_now(void)
{
	uint32_t sp;

	__asm__ volatile("mov %0, sp" : "=r"(sp));
	return sp;
}

void board_reset(void)
{
	uint32_t *p;
	const uint32_t *s = __text_end;
	uint32_t limit;

	for (p = __data_start; p < __data_end; p++)
		*p = *s++;
	for (p = __bss_start; p < __bss_end; p++)
		*p = 0;
	/* paint from the end of bss up to our own frame: nothing below the
	 * stack pointer is in use (no interrupt is enabled yet) */
	limit = sp_now() & ~3u;
	for (p = __bss_end; (uint32_t)(uintptr_t)p < limit; p++)
		*p = PAINT;
	board_exit(main());
}

void board_tick_start(void)
{
	SYST_RVR = CPU_HZ / 1000u - 1u;
	SYST_CVR = 0;
	SYST_CSR = 7u; /* processor clock, interrupt, enable */
}

static void on_tick(void)
{
	ticks++;
}

static void on_fault(void)
{
	board_puts("bare-metal: FAIL: processor fault\n");
	board_exit(99);
}

uint32_t board_ticks(void)
{
	return ticks;
}

void board_set_ticks(uint32_t t)
{
	ticks = t; /* one store: the interrupt sees the old count or the new */
}

void board_idle(void)
{
	__asm__ volatile("wfi" ::: "memory");
}

void board_puts(const char *s)
{
	semihost(SYS_WRITE0, s);
}

void board_putu(uint32_t v)
{
	char buf[11];
	size_t i = sizeof buf - 1;

	buf[i] = '\0';
	do {
		buf[--i] = (char)('0' + v % 10u);
		v /= 10u;
	} while (v != 0);
	board_puts(buf + i);
}

void board_exit(int status)
{
	uint32_t block[2];

	block[0] = ADP_STOPPED_APPLICATION_EXIT;
	block[1] = (uint32_t)status;
	for (;;)
		semihost(SYS_EXIT_EXTENDED, block);
}

uint32_t board_text_size(void)
{
	return (uint32_t)(uintptr_t)__text_end;
}

uint32_t board_data_size(void)
{
	return (uint32_t)((uintptr_t)__data_end - (uintptr_t)__data_start);
}

uint32_t board_bss_size(void)
{
	return (uint32_t)((uintptr_t)__bss_end - (uintptr_t)__bss_start);
}

uint32_t board_stack_size(void)
{
	return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)__bss_end);
}

uint32_t board_stack_high_water(void)
{
	const uint32_t *p = __bss_end;

	while (p < __stack_top && *p == PAINT)
		p++;
	return (uint32_t)((uintptr_t)__stack_top - (uintptr_t)p);
}

/* ---- the C library functions the core uses (and gcc may call) ------------- */

void *memcpy(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	while (n--)
		*d++ = *s++;
	return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	if (d < s) {
		while (n--)
			*d++ = *s++;
	} else {
		while (n--)
			d[n] = s[n];
	}
	return dst;
}

void *memset(void *dst, int c, size_t n)
{
	unsigned char *d = dst;

	while (n--)
		*d++ = (unsigned char)c;
	return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;

	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x < *y ? -1 : 1;
	return 0;
}

void *memchr(const void *s, int c, size_t n)
{
	const unsigned char *p = s;

	for (; n; n--, p++)
		if (*p == (unsigned char)c)
			return (void *)(uintptr_t)p;
	return NULL;
}

size_t strlen(const char *s)
{
	const char *p = s;

	while (*p)
		p++;
	return (size_t)(p - s);
}

/*
 * board.h - the little a Cortex-M0 board gives the firmware: a millisecond
 * tick, a way to sleep until it moves, semihosting output and exit, and the
 * image's sizes from the linker's symbols.
 */
#ifndef BOARD_H
#define BOARD_H

#include <stddef.h>
#include <stdint.h>

/* Starts the SysTick interrupt at 1 kHz (processor clock, 16 MHz). */
void board_tick_start(void);
/* Milliseconds since board_tick_start, counted by the SysTick interrupt
 * modulo 2^32. */
uint32_t board_ticks(void);
/* Sets the count (a test of the wrap sets it just short of 2^32). */
void board_set_ticks(uint32_t t);
/* Sleeps until the next interrupt (WFI): the next tick at the latest. */
void board_idle(void);
/* Writes a NUL-terminated string to the host (semihosting SYS_WRITE0). */
void board_puts(const char *s);
/* Writes an unsigned number in decimal. */
void board_putu(uint32_t v);
/* Ends the run: the host's exit status is status (SYS_EXIT_EXTENDED). */
void board_exit(int status);

/* Image sizes in octets, from the linker script's symbols. */
uint32_t board_text_size(void);	 /* flash: vectors, code, constants */
uint32_t board_data_size(void);	 /* initialised RAM, copied from flash */
uint32_t board_bss_size(void);	 /* zeroed RAM */
uint32_t board_stack_size(void); /* RAM from the end of bss to the top */
/* Deepest stack use so far, in octets: the painted stack scanned for the
 * first word that changed. */
uint32_t board_stack_high_water(void);

#endif /* BOARD_H */

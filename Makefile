# smtpc - see README.md. Everything is built under build/.
#
#   make            the libraries, the smtpc tool and the examples:
#                   libsmtpc-core.a   the core and the transaction layer, no
#                                     dependencies
#                   libsmtpc.a, .so   those and io-posix
#                   libsmtpc-bearssl.a, .so  io-bearssl and io-posix's TLS
#                                     glue (needs libsmtpc and -lbearssl)
#   make check      every gate: gcc and clang builds with -Werror, unit tests
#                   plain and under ASan+UBSan, core purity, fuzz corpus
#                   replay, Cortex-M0 build, core line coverage
#   make fuzz       libFuzzer targets (clang); run e.g. build/fuzz/fuzz_client
#   make cross      core for Cortex-M0 (arm-none-eabi-gcc): object sizes, a
#                   linked client-only image (no server code allowed in it),
#                   sizeof(smtpc_conn); io-bearssl's sizes and RAM
#   make bare-metal-check  the core on an emulated Cortex-M0 (QEMU's microbit)
#   make lwip-check the lwIP example: client and server over lwIP's loopback
#   make footprint  flash and RAM on Cortex-M0: client, server, both
#   make install    PREFIX=/usr/local DESTDIR=

SHELL   := /bin/bash
PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include
DESTDIR ?=
VERSION := $(shell sed -n 's/^\#define SMTPC_VERSION[[:space:]]\{1,\}"\(.*\)"$$/\1/p' include/smtpc.h)
$(if $(VERSION),,$(error cannot read SMTPC_VERSION from include/smtpc.h))
SOMAJOR := 0

CC      ?= cc
WARN    := -std=c99 -Wall -Wextra -Werror -pedantic -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes -Wcast-qual -Wconversion -Wno-sign-conversion
OPT     ?= -O2
VFLAGS  ?=
V       ?= rel
B       := build/$(V)

# The release build links with link-time optimisation when the compiler is
# gcc: the core's small helpers are inlined across files (about a fifth
# fewer instructions per message in smtpc bench). Fat objects keep the
# libraries usable by any linker. LTO= turns it off.
ifeq ($(V),rel)
ifneq ($(shell $(CC) --version 2>/dev/null | grep -c 'Free Software Foundation'),0)
LTO     ?= -flto=auto -ffat-lto-objects
endif
endif
CFLAGS_ALL = $(WARN) $(OPT) $(LTO) $(VFLAGS) -Iinclude -Icore $(CFLAGS)
HDRS    := $(wildcard include/*.h) core/internal.h
CORE_SRC := $(wildcard core/*.c)
TXN_SRC := $(wildcard txn/*.c)
POSIX_SRC := io-posix/posix.c io-posix/txn.c io-posix/server.c
PTLS_SRC := io-posix/tls.c
BEARSSL_SRC := $(wildcard io-bearssl/*.c)
CLI_SRC := $(wildcard cli/*.c)
TEST_SRC := $(wildcard tests/*.c)
FUZZ_TARGETS := fuzz_client fuzz_body fuzz_server fuzz_pair fuzz_x509 fuzz_txn fuzz_cli fuzz_api_client fuzz_api_server fuzz_datadiff
CORE_OBJ := $(patsubst core/%.c,$(B)/core/%.o,$(CORE_SRC)) \
            $(patsubst txn/%.c,$(B)/txn/%.o,$(TXN_SRC))
POSIX_OBJ := $(patsubst io-posix/%.c,$(B)/io-posix/%.o,$(POSIX_SRC))
PTLS_OBJ := $(patsubst io-posix/%.c,$(B)/io-posix/%.o,$(PTLS_SRC))
BEARSSL_OBJ := $(patsubst io-bearssl/%.c,$(B)/io-bearssl/%.o,$(BEARSSL_SRC))
CLI_OBJ := $(patsubst cli/%.c,$(B)/cli/%.o,$(CLI_SRC))
TLS_OBJ := $(BEARSSL_OBJ) $(PTLS_OBJ)
CORE_LIB := $(B)/libsmtpc-core.a
POSIX_LIB := $(B)/libsmtpc.a
TLS_LIB := $(B)/libsmtpc-bearssl.a
LIBS    := -lbearssl
# everything, for the tool, the tests and the TLS examples
LINK_ALL := $(TLS_LIB) $(POSIX_LIB) $(LIBS)
TEST_OBJ := $(patsubst tests/%.c,$(B)/tests/%.o,$(TEST_SRC))

SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g
ALLOWED_UNDEF := memchr memcpy memmove memset memcmp strlen
LIBS_ALL := $(CORE_LIB) $(POSIX_LIB) $(B)/libsmtpc.so $(TLS_LIB) $(B)/libsmtpc-bearssl.so

ARM_CC  ?= arm-none-eabi-gcc
ARM_SIZE ?= arm-none-eabi-size
ARM_FLAGS := -mcpu=cortex-m0 -mthumb -Os -ffreestanding -ffunction-sections -fdata-sections
# the footprint goals (bytes): core text in the client-only image, text of
# all core objects, sizeof(smtpc_conn) with SMTPC_QUEUE_CAP 8
ARM_IMAGE_GOAL := 12288
ARM_CORE_GOAL := 20480
ARM_CONN_GOAL := 512

.PHONY: bench bench-vs bench-tls all lib examples cli-test tool-test attack-test tls-test sink-test sink-load interop check demo deps test-bin test-run purity replay cross fuzz cov install install-test clean sink-attack format format-check
.PHONY: bare-metal-check lwip-check footprint

all: lib

HAVE_UV := $(shell test -f /usr/include/uv.h && echo yes)
EXAMPLES := $(B)/core_exchange $(B)/poll_send $(if $(HAVE_UV),$(B)/uv_send) $(B)/micro

lib: $(LIBS_ALL) $(B)/smtpc examples
	@if [ "$(V)" = rel ]; then cp $(B)/smtpc build/smtpc.new && mv -f build/smtpc.new build/smtpc; fi

examples: $(EXAMPLES)
	@$(if $(HAVE_UV),true,echo "examples: libuv1-dev not installed, uv_send not built")

$(B)/micro: bench/micro.c $(CORE_LIB)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(CORE_LIB)

# core micro-benchmarks; the client against Postfix's smtp-source
bench: lib
	$(B)/micro
bench-vs:
	sh bench/vs-smtp-source.sh

$(B)/poll_send: examples/poll_send.c examples/session.h $(TLS_LIB) $(POSIX_LIB)
	$(CC) $(CFLAGS_ALL) -Wno-unused-function -o $@ $< $(LINK_ALL)

# libuv's headers are not -pedantic C99: its own flags
$(B)/uv_send: examples/uv_send.c examples/session.h $(TLS_LIB) $(POSIX_LIB)
	$(CC) -std=gnu99 -Wall -Wextra -Werror -Wno-unused-function $(OPT) $(VFLAGS) -Iinclude -o $@ $< \
	  $(LINK_ALL) -luv

$(B)/io-posix/%.o: io-posix/%.c $(HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -fPIC -c $< -o $@

$(B)/io-bearssl/%.o: io-bearssl/%.c $(HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -fPIC -c $< -o $@

$(B)/cli/%.o: cli/%.c $(HDRS) cli/cli.h cli/config.h cli/message.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -Icli -c $< -o $@

$(B)/smtpc: $(CLI_OBJ) $(TLS_LIB) $(POSIX_LIB)
	$(CC) $(OPT) $(LTO) $(VFLAGS) -o $@ $(CLI_OBJ) $(LINK_ALL)

$(B)/core_exchange: examples/core_exchange.c $(CORE_LIB)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(CORE_LIB)

$(B)/core/%.o: core/%.c $(HDRS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -fPIC -c $< -o $@

# the transaction layer: pure like the core, on its public header only
$(B)/txn/%.o: txn/%.c $(HDRS)
	@mkdir -p $(@D)
	$(CC) $(WARN) $(OPT) $(LTO) $(VFLAGS) -Iinclude $(CFLAGS) -fPIC -c $< -o $@

$(B)/tests/%.o: tests/%.c $(HDRS) tests/helpers.h cli/config.h cli/message.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -Wno-conversion -Wno-missing-prototypes -Wno-strict-prototypes -Itests -Icli \
	  -DSRCDIR='"$(CURDIR)"' -c $< -o $@

$(CORE_LIB): $(CORE_OBJ)
	rm -f $@
	ar rcs $@ $^

$(POSIX_LIB): $(CORE_OBJ) $(POSIX_OBJ)
	rm -f $@
	ar rcs $@ $^

$(B)/libsmtpc.so: $(CORE_OBJ) $(POSIX_OBJ)
	$(CC) -shared -Wl,-soname,libsmtpc.so.$(SOMAJOR) $(VFLAGS) -o $@ $^

$(TLS_LIB): $(TLS_OBJ)
	rm -f $@
	ar rcs $@ $^

$(B)/libsmtpc-bearssl.so: $(TLS_OBJ) $(B)/libsmtpc.so
	$(CC) -shared -Wl,-soname,libsmtpc-bearssl.so.$(SOMAJOR) $(VFLAGS) -o $@ $(TLS_OBJ) \
	  -L$(B) -lsmtpc $(LIBS)

# the tool's configuration parser is unit-tested with the libraries
CLI_UNIT_OBJ := $(B)/cli/config.o $(B)/cli/message.o
$(B)/unit: $(TEST_OBJ) $(CLI_UNIT_OBJ) $(TLS_LIB) $(POSIX_LIB)
	$(CC) $(VFLAGS) -o $@ $(TEST_OBJ) $(CLI_UNIT_OBJ) $(LINK_ALL) -lcriterion -lpthread

test-bin: $(B)/unit
test-run: $(B)/unit
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 $(B)/unit $(TEST_ARGS) 2>&1 | tee $(B)/unit.log; \
	  exit $${PIPESTATUS[0]}

# ---- fuzz replay (gcc, sanitizers): every corpus file through every target
$(B)/replay_%: fuzz/%.c fuzz/replay.c $(TLS_LIB) $(POSIX_LIB)
	$(CC) $(CFLAGS_ALL) -Wno-conversion -Ifuzz -o $@ fuzz/$*.c fuzz/replay.c $(LINK_ALL)

# the tool's parsers (configuration, addresses, the sendmail header pass)
$(B)/replay_fuzz_cli: fuzz/fuzz_cli.c fuzz/replay.c cli/config.c cli/message.c cli/config.h cli/message.h $(CORE_LIB)
	$(CC) $(CFLAGS_ALL) -Wno-conversion -Icli -o $@ fuzz/fuzz_cli.c fuzz/replay.c cli/config.c cli/message.c \
	  $(CORE_LIB)

replay: $(patsubst %,$(B)/replay_%,$(FUZZ_TARGETS))
	@for t in $(FUZZ_TARGETS); do \
	  $(B)/replay_$$t fuzz/corpus/$$t || exit 1; \
	done

# ---- the gates
check: deps
	$(MAKE) format-check
	$(MAKE) V=gcc CC=gcc lib test-run
	$(MAKE) V=portable CC=gcc VFLAGS='-DSMTPC_PORTABLE_WORDS -DSMTPC_SWAP_WORDS' test-run
	$(MAKE) V=clang CC=clang lib test-bin
	$(MAKE) V=asan CC=clang OPT=-O1 VFLAGS='$(SAN)' test-run lib
	$(MAKE) V=rel lib
	$(MAKE) cli-test SMTPC_BIN=build/asan/smtpc
	$(MAKE) tool-test SMTPC_BIN=build/asan/smtpc
	$(MAKE) attack-test SMTPC_BIN=build/asan/smtpc
	$(MAKE) tls-test SMTPC_BIN=build/asan/smtpc
	$(MAKE) sink-test SMTPC_BIN=build/asan/smtpc
	$(MAKE) sink-attack SMTPC_BIN=build/asan/smtpc
	$(MAKE) sink-load
	$(MAKE) interop
	$(MAKE) V=replay CC=gcc OPT=-O1 VFLAGS='$(SAN)' replay
	$(MAKE) purity
	$(MAKE) install-test
	@if command -v $(ARM_CC) >/dev/null 2>&1; then $(MAKE) cross; \
	 else echo "cross: $(ARM_CC) not found, skipped"; fi
	@if command -v $(ARM_CC) >/dev/null 2>&1 && command -v $(QEMU_ARM) >/dev/null 2>&1; then \
	   $(MAKE) bare-metal-check; \
	 else rm -f build/bare-metal.log; \
	   echo "bare-metal-check: skipped: needs $(ARM_CC) and $(QEMU_ARM) (gcc-arm-none-eabi, qemu-system-arm)"; fi
	@if $(HAVE_LWIP); then $(MAKE) lwip-check; \
	 else rm -f build/lwip.log; echo "lwip-check: skipped: lwIP's headers not found (liblwip-dev)"; fi
	$(MAKE) cov
	@echo "make check: all gates passed"
	@{ awk -F'|' '/Synthesis: Tested/ { split($$2, p, ": "); split($$3, f, ": "); \
	    split($$4, k, ": "); print p[2], f[2] + k[2] }' build/gcc/unit.log; \
	  sed -n 's/^[a-z-]*: \([0-9]*\) passed, \([0-9]*\) failed$$/\1 \2/p' build/cli.log build/tool.log build/attack.log build/tls.log build/sink.log build/sink-attack.log build/load.log \
	    build/interop.log build/install.log $$(ls build/bare-metal.log build/lwip.log 2>/dev/null); } | \
	  awk '{ p += $$1; f += $$2 } END { printf "check: %d passed, %d failed\n", p, f }'


# Every C source and header follows .clang-format (clang-format 14, as
# Debian 12 ships it): `make format` rewrites them, `make format-check`
# (in make check) fails on the first place that differs.
FORMAT_SRC = $(wildcard bare-metal/*.[ch] bench/*.[ch] cli/*.[ch] core/*.[ch] examples/*.[ch] \
	examples/lwip/*.[ch] fuzz/*.[ch] include/*.h io-bearssl/*.[ch] io-posix/*.[ch] \
	tests/*.[ch] txn/*.[ch])
CLANG_FORMAT ?= clang-format

format:
	$(CLANG_FORMAT) -i $(FORMAT_SRC)

format-check:
	@$(CLANG_FORMAT) --dry-run -Werror $(FORMAT_SRC) && \
	  echo "format-check: $(words $(FORMAT_SRC)) files follow .clang-format"

deps:
	@sh scripts/deps.sh

# a sink and a client on a loopback port, both sides shown
demo:
	@sh scripts/deps.sh --demo
	@$(MAKE) --no-print-directory V=rel lib >/dev/null
	build/smtpc demo

# adapter and CLI against scripted servers; real servers (aiosmtpd, smtp-sink)
SMTPC_BIN ?= build/smtpc
PYTHON ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || echo python3)
cli-test:
	@mkdir -p build
	ASAN_OPTIONS=detect_leaks=1 $(PYTHON) tests/cli/test_cli.py $(SMTPC_BIN) | tee build/cli.log; \
	  exit $${PIPESTATUS[0]}

# the tool as a daily mail client: credentials, AUTH, configuration,
# sendmail, composing, LMTP
tool-test:
	@mkdir -p build
	ASAN_OPTIONS=detect_leaks=1 $(PYTHON) tests/cli/test_tool.py $(SMTPC_BIN) | tee build/tool.log; \
	  exit $${PIPESTATUS[0]}

# hostile messages, passwordeval commands and configuration files
attack-test:
	@mkdir -p build
	ASAN_OPTIONS=detect_leaks=1 $(PYTHON) tests/cli/test_attack.py $(SMTPC_BIN) | tee build/attack.log; \
	  exit $${PIPESTATUS[0]}

tls-test:
	@mkdir -p build
	ASAN_OPTIONS=detect_leaks=1 $(PYTHON) tests/cli/test_tls.py $(SMTPC_BIN) | tee build/tls.log; \
	  exit $${PIPESTATUS[0]}

sink-test:
	@mkdir -p build
	ASAN_OPTIONS=detect_leaks=1 $(PYTHON) tests/interop/test_sink.py $(SMTPC_BIN) | tee build/sink.log; \
	  exit $${PIPESTATUS[0]}

# the sink attacked: bad option values, hostile clients
sink-attack:
	@mkdir -p build
	ASAN_OPTIONS=detect_leaks=1 $(PYTHON) tests/interop/test_sink_attack.py $(SMTPC_BIN) | tee build/sink-attack.log; \
	  exit $${PIPESTATUS[0]}

# the load run again on the plain build, its memory checked
sink-load:
	@mkdir -p build
	SMTPC_RSS_CHECK=1 $(PYTHON) tests/interop/test_sink.py build/smtpc load | tee build/load.log; \
	  exit $${PIPESTATUS[0]}

interop:
	@mkdir -p build
	$(PYTHON) tests/interop/test_interop.py build/smtpc | tee build/interop.log; \
	  exit $${PIPESTATUS[0]}

# The core and the transaction layer may only use the memory functions (and
# the layer only the core's public functions); io-bearssl may use BearSSL,
# the core's public functions and the same memory functions: no sockets,
# stdio, malloc, clock or entropy (a bare-metal port takes it as it is).
# (_GLOBAL_OFFSET_TABLE_ is the linker's, for -fPIC code.)
TLS_PURE = $(patsubst io-bearssl/%.c,build/gcc/io-bearssl/%.o,$(BEARSSL_SRC))
purity:
	@$(MAKE) --no-print-directory V=gcc CC=gcc build/gcc/libsmtpc.a build/gcc/libsmtpc-bearssl.a >/dev/null
	@bad=$$(nm -u $(patsubst core/%.c,build/gcc/core/%.o,$(CORE_SRC)) build/gcc/txn/*.o | awk 'NF==2 && $$1=="U" {print $$2}' | grep -v '^smtpc' | sort -u | \
	  grep -vxF $(patsubst %,-e %,$(ALLOWED_UNDEF))); \
	if [ -n "$$bad" ]; then echo "purity: core or txn uses forbidden symbols: $$bad"; exit 1; fi; \
	echo "purity: core and txn undefined symbols within: $(ALLOWED_UNDEF)"; \
	int=$$(nm -u build/gcc/txn/*.o | awk '$$1=="U" && $$2 ~ /^smtpc__/ {print $$2}' | sort -u); \
	if [ -n "$$int" ]; then echo "purity: txn uses core internals: $$int"; exit 1; fi; \
	echo "purity: txn uses only the core's public API"
	@own=$$(nm --defined-only $(TLS_PURE) | awk 'NF==3 {print $$3}' | sort -u); \
	public=$$(nm --defined-only -g $(patsubst core/%.c,build/gcc/core/%.o,$(CORE_SRC)) | awk 'NF==3 && $$3 ~ /^smtpc_[^_]/ {print $$3}'); \
	bad=$$(nm -u $(TLS_PURE) | awk 'NF==2 && $$1=="U" {print $$2}' | sort -u | \
	  grep -v '^br_' | grep -vxF -e "$$own" | grep -vxF -e "$$public" -e _GLOBAL_OFFSET_TABLE_ | \
	  grep -vxF $(patsubst %,-e %,$(ALLOWED_UNDEF))); \
	if [ -n "$$bad" ]; then echo "purity: io-bearssl uses forbidden symbols: $$bad"; exit 1; fi; \
	echo "purity: io-bearssl undefined symbols within: br_*, the core's public smtpc_*, $(ALLOWED_UNDEF)"

# The core, and io-bearssl against BearSSL's headers (BearSSL itself is the
# port's to build), for Cortex-M0. The core: every object's size; a
# client-only image (examples/m0_client.c, linked with --gc-sections) whose
# core share is summed from the link map and which must hold nothing from
# core/server.c; sizeof(smtpc_conn) at a queue of 8 (CROSS_DEFS=
# -DSMTPC_NO_ERROR_TEXT shows the build without error descriptions).
# io-bearssl: the sizes, and the RAM of one TLS layer at its smallest buffer
# (sizeof(smtpc_bearssl) + SMTPC_BEARSSL_BUF_MIN).
BEARSSL_INC ?= /usr/include/bearssl
ARM_B := build/arm$(if $(CROSS_DEFS),-small)
cross:
	@mkdir -p $(ARM_B)/tls
	@rm -f $(ARM_B)/libsmtpc-arm.a
	@for f in $(CORE_SRC); do \
	  $(ARM_CC) $(ARM_FLAGS) $(WARN) $(CROSS_DEFS) -Iinclude -Icore -c $$f -o $(ARM_B)/$$(basename $$f .c).o || exit 1; \
	done
	@$(ARM_SIZE) -t $(ARM_B)/*.o
	@arm-none-eabi-ar rcs $(ARM_B)/libsmtpc-arm.a $(ARM_B)/*.o
	@$(ARM_CC) $(ARM_FLAGS) $(WARN) -Iinclude -nostartfiles --specs=nano.specs --specs=nosys.specs \
	  -Wl,--gc-sections -Wl,-e,_start -Wl,-Map=$(ARM_B)/m0_client.map -o $(ARM_B)/m0_client.elf \
	  examples/m0_client.c $(ARM_B)/libsmtpc-arm.a
	@mkdir -p $(ARM_B)/probe
	@printf '#include "smtpc.h"\nchar conn_size[sizeof(smtpc_conn)];\n' | \
	  $(ARM_CC) $(ARM_FLAGS) -DSMTPC_QUEUE_CAP=8 -Iinclude -x c -c - -o $(ARM_B)/probe/conn_size.o
	@awk -v goal_img=$(ARM_IMAGE_GOAL) -v goal_core=$(ARM_CORE_GOAL) -v goal_conn=$(ARM_CONN_GOAL) \
	  -v core="$$($(ARM_SIZE) -t $(ARM_B)/*.o | awk '/TOTALS/ {print $$1}')" \
	  -v conn="$$(arm-none-eabi-nm -S $(ARM_B)/probe/conn_size.o | awk '/conn_size/ {print $$2}')" \
	  -f scripts/m0-map.awk $(ARM_B)/m0_client.map
	@mkdir -p $(ARM_B)/txn
	@for f in $(TXN_SRC); do \
	  $(ARM_CC) $(ARM_FLAGS) $(WARN) -Iinclude -c $$f -o $(ARM_B)/txn/$$(basename $$f .c).o || exit 1; \
	done
	$(ARM_SIZE) -t $(ARM_B)/txn/*.o
	@for f in $(BEARSSL_SRC); do \
	  $(ARM_CC) $(ARM_FLAGS) $(WARN) -Iinclude -isystem $(BEARSSL_INC) -c $$f \
	    -o $(ARM_B)/tls/$$(basename $$f .c).o || exit 1; \
	done
	@printf '#include "smtpc_bearssl.h"\nsmtpc_bearssl layer;\nunsigned char buf[SMTPC_BEARSSL_BUF_MIN];\n' \
	  > $(ARM_B)/tls/ram.c
	@$(ARM_CC) $(ARM_FLAGS) -fno-common -Iinclude -isystem $(BEARSSL_INC) -c $(ARM_B)/tls/ram.c \
	  -o $(ARM_B)/tls/ram.o
	$(ARM_SIZE) -t $(patsubst io-bearssl/%.c,$(ARM_B)/tls/%.o,$(BEARSSL_SRC))
	@$(ARM_SIZE) $(ARM_B)/tls/ram.o | \
	  awk 'NR==2 {print "io-bearssl: a client layer with its smallest buffer: " $$3 " octets of RAM"}'

# ---- bare metal: the core on QEMU's microbit (nRF51822, Cortex-M0, 16 KiB RAM)
QEMU_ARM ?= qemu-system-arm
BM      := build/bare-metal
BM_FLAGS = $(ARM_FLAGS) -fno-tree-loop-distribute-patterns $(WARN) -Iinclude -Icore -Ibare-metal
BM_LINK := -nostdlib -nostartfiles -Wl,--gc-sections -T bare-metal/microbit.ld
BM_DEPS := bare-metal/board.c bare-metal/board.h bare-metal/microbit.ld $(CORE_SRC) $(HDRS)
FP_client := -DFP_CLIENT
FP_server := -DFP_SERVER
FP_both :=

$(BM)/firmware.elf: bare-metal/main.c bare-metal/link.c bare-metal/link.h $(BM_DEPS)
	@mkdir -p $(@D)
	$(ARM_CC) $(BM_FLAGS) -DSMTPC_QUEUE_CAP=8 $(BM_LINK) -o $@ bare-metal/board.c bare-metal/link.c \
	  bare-metal/main.c $(CORE_SRC) -lgcc

# the footprint programs at the smallest configuration, run as a check
$(BM)/footprint-%.elf: bare-metal/footprint.c $(BM_DEPS)
	@mkdir -p $(@D)
	$(ARM_CC) $(BM_FLAGS) -DFP_SMALL -DSMTPC_QUEUE_CAP=8 $(FP_$*) $(BM_LINK) -o $@ bare-metal/board.c \
	  bare-metal/footprint.c $(CORE_SRC) -lgcc

# the firmware's scenarios and the footprint programs; the count goes to build/bare-metal.log
BM_IMAGES := $(BM)/firmware.elf $(BM)/footprint-client.elf $(BM)/footprint-server.elf $(BM)/footprint-both.elf
bare-metal-check: $(BM_IMAGES)
	QEMU_ARM=$(QEMU_ARM) ARM_SIZE=$(ARM_SIZE) sh bare-metal/run.sh $(BM_IMAGES) | tee build/bare-metal.log; \
	  exit $${PIPESTATUS[0]}

# flash and RAM of client only, server only and both, defaults and smallest
footprint:
	ARM_CC=$(ARM_CC) QEMU_ARM=$(QEMU_ARM) $(PYTHON) bare-metal/footprint.py

# ---- lwIP: the adapter in examples/lwip, over lwIP's loopback, in one process
HAVE_LWIP = { pkg-config --exists lwip || test -f /usr/include/lwip/lwip/tcp.h; } 2>/dev/null
LWIP_CFLAGS = $(shell pkg-config --cflags lwip 2>/dev/null || echo -I/usr/include/lwip)
LWIP_LIBS = $(shell pkg-config --libs lwip 2>/dev/null || echo -llwip) -lpthread
LWIP_SRC := examples/lwip/lwip_loop.c examples/lwip/smtpc_lwip.c

build/lwip/lwip_loop: $(LWIP_SRC) examples/lwip/smtpc_lwip.h $(CORE_SRC) $(HDRS)
	@mkdir -p $(@D)
	gcc $(WARN) -O2 -D_POSIX_C_SOURCE=200809L -Iinclude -Iexamples/lwip $(LWIP_CFLAGS) -o $@ \
	  $(LWIP_SRC) $(CORE_SRC) $(LWIP_LIBS)

build/lwip/lwip_loop_san: $(LWIP_SRC) examples/lwip/smtpc_lwip.h $(CORE_SRC) $(HDRS)
	@mkdir -p $(@D)
	clang $(WARN) -O1 $(SAN) -D_POSIX_C_SOURCE=200809L -Iinclude -Iexamples/lwip $(LWIP_CFLAGS) -o $@ \
	  $(LWIP_SRC) $(CORE_SRC) $(LWIP_LIBS)

# the sessions counted once (build/lwip.log), run again under the sanitizers
lwip-check: build/lwip/lwip_loop build/lwip/lwip_loop_san
	timeout 120 build/lwip/lwip_loop | tee build/lwip.log; exit $${PIPESTATUS[0]}
	ASAN_OPTIONS=detect_leaks=1 timeout 120 build/lwip/lwip_loop_san | tee build/lwip-san.log; \
	  exit $${PIPESTATUS[0]}

# atomic counters: the io-posix tests run the core in a server thread and a
# client at once (racy counters made gcov report negative branch counts and
# gcovr fail); pipefail: gcovr's failure, --fail-under-line included, fails
# the gate (through the pipe to tail it did not)
cov:
	$(MAKE) V=cov CC=gcc OPT=-O0 VFLAGS='--coverage -fprofile-update=atomic' test-run TEST_ARGS=-j1 >/dev/null
	set -o pipefail; gcovr -r . --filter 'core/' --filter 'txn/' --object-directory build/cov --print-summary \
	  --fail-under-line 95 --exclude-unreachable-branches | tail -n 20

# ---- libFuzzer
fuzz: $(patsubst %,build/fuzz/%,$(FUZZ_TARGETS))

build/fuzz/fuzz_cli: fuzz/fuzz_cli.c cli/config.c cli/message.c cli/config.h cli/message.h $(CORE_SRC) $(HDRS)
	@mkdir -p $(@D)
	clang $(WARN) -Wno-conversion -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	  -Iinclude -Icore -Icli -o $@ $< cli/config.c cli/message.c $(CORE_SRC)

build/fuzz/%: fuzz/%.c $(CORE_SRC) $(TXN_SRC) $(BEARSSL_SRC) $(HDRS)
	@mkdir -p $(@D)
	clang $(WARN) -Wno-conversion -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	  -Iinclude -Icore -Ifuzz -o $@ $< $(CORE_SRC) $(TXN_SRC) $(BEARSSL_SRC) -lbearssl

BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man

install: lib
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCDIR) $(DESTDIR)$(LIBDIR)/pkgconfig \
	  $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 644 include/smtpc.h include/smtpc_limits.h include/smtpc_txn.h include/smtpc_posix.h \
	  include/smtpc_posix_txn.h include/smtpc_posix_server.h include/smtpc_bearssl.h \
	  include/smtpc_posix_tls.h $(DESTDIR)$(INCDIR)/
	install -m 755 $(B)/smtpc $(DESTDIR)$(BINDIR)/smtpc
	sed 's/"smtpc [0-9][0-9.]*"/"smtpc $(VERSION)"/' man/smtpc.1 > $(DESTDIR)$(MANDIR)/man1/smtpc.1
	install -m 644 $(CORE_LIB) $(POSIX_LIB) $(TLS_LIB) $(DESTDIR)$(LIBDIR)/
	@for l in smtpc smtpc-bearssl; do \
	  install -m 755 $(B)/lib$$l.so $(DESTDIR)$(LIBDIR)/lib$$l.so.$(VERSION) && \
	  ln -sf lib$$l.so.$(VERSION) $(DESTDIR)$(LIBDIR)/lib$$l.so.$(SOMAJOR) && \
	  ln -sf lib$$l.so.$(SOMAJOR) $(DESTDIR)$(LIBDIR)/lib$$l.so || exit 1; \
	done
	@for pc in smtpc-core smtpc smtpc-bearssl; do \
	  sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCDIR@|$(INCDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' pc/$$pc.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/$$pc.pc || exit 1; \
	done

# A tiny program built against each pkg-config file of a DESTDIR install:
# the core alone and io-posix need no BearSSL; the TLS library brings it.
install-test:
	@rm -rf build/dest
	@$(MAKE) --no-print-directory V=rel install DESTDIR=$(CURDIR)/build/dest PREFIX=/usr/local >/dev/null
	sh scripts/install-test.sh $(CURDIR)/build/dest /usr/local | tee build/install.log; \
	  exit $${PIPESTATUS[0]}

clean:
	rm -rf build

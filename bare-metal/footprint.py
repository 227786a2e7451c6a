#!/usr/bin/env python3
"""Measures the core's flash and RAM on a Cortex-M0 (make footprint).

Builds bare-metal/footprint.c six ways (client only, server only, both;
the defaults and the smallest configuration) with arm-none-eabi-gcc -Os and
section garbage collection, reads each link map for the flash the core's
objects and the libgcc helpers they call take, and the image's static RAM
(data and bss: the connection objects and their buffers), then runs each
image under QEMU for the stack's high-water mark and prints a Markdown table.

The images run on QEMU's lm3s6965evb (a Cortex-M3 with 64 KiB of RAM at the
micro:bit's addresses): both roles at the defaults need more than the
micro:bit's 16 KiB. The code is the same Cortex-M0 code.
"""
import os
import re
import shutil
import subprocess
import sys

CC = os.environ.get("ARM_CC", "arm-none-eabi-gcc")
QEMU = os.environ.get("QEMU_ARM", "qemu-system-arm")
WARN = ("-std=c99 -Wall -Wextra -Werror -pedantic -Wshadow -Wstrict-prototypes "
        "-Wmissing-prototypes -Wcast-qual -Wconversion -Wno-sign-conversion").split()
FLAGS = ["-mcpu=cortex-m0", "-mthumb", "-Os", "-ffreestanding", "-ffunction-sections",
         "-fdata-sections", "-fno-tree-loop-distribute-patterns"] + WARN + \
        ["-Iinclude", "-Icore", "-Ibare-metal"]
OUT = "build/footprint"

PROGRAMS = [("client only", ["-DFP_CLIENT"]), ("server only", ["-DFP_SERVER"]),
            ("client and server", [])]
CONFIGS = [("defaults", []),
           ("smallest", ["-DFP_SMALL", "-DSMTPC_QUEUE_CAP=8"])]


def run(cmd):
    subprocess.run(cmd, check=True)


def build(name, defs):
    d = os.path.join(OUT, name)
    os.makedirs(os.path.join(d, "core"), exist_ok=True)
    objs = []
    for src in sorted(os.listdir("core")):
        if src.endswith(".c"):
            obj = os.path.join(d, "core", src[:-2] + ".o")
            run([CC] + FLAGS + defs + ["-c", os.path.join("core", src), "-o", obj])
            objs.append(obj)
    for src in ("board.c", "footprint.c"):
        obj = os.path.join(d, src[:-2] + ".o")
        run([CC] + FLAGS + defs + ["-c", os.path.join("bare-metal", src), "-o", obj])
        objs.append(obj)
    elf = os.path.join(d, "footprint.elf")
    run([CC] + FLAGS + ["-nostdlib", "-nostartfiles", "-T", "bare-metal/microbit.ld",
                        "-Wl,--defsym=__ram_length=65536", "-Wl,--gc-sections",
                        "-Wl,-Map=" + os.path.join(d, "footprint.map"), "-o", elf] +
        objs + ["-lgcc"])
    return elf, os.path.join(d, "footprint.map")


SECTION = re.compile(r"^ (\.\S+|COMMON)(?:\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(\S.*))?$")
DETAIL = re.compile(r"^\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(\S.*)$")


def measure(mapfile):
    """Flash of the core's objects and of libgcc; RAM of the whole image."""
    core = libgcc = ram = 0
    with open(mapfile) as f:
        lines = f.read().split("\n")
    start = lines.index("Linker script and memory map")
    pending = None
    for line in lines[start:]:
        m = SECTION.match(line)
        if m and m.group(2) is None:
            pending = m.group(1)
            continue
        if m:
            sec, size, path = m.group(1), int(m.group(3), 16), m.group(4)
        elif pending and DETAIL.match(line):
            d = DETAIL.match(line)
            sec, size, path = pending, int(d.group(2), 16), d.group(3)
        else:
            pending = None
            continue
        pending = None
        if sec.startswith((".data", ".bss")) or sec == "COMMON":
            ram += size
        if sec.startswith((".text", ".rodata", ".data")):
            if "/core/" in path:
                core += size
            elif "libgcc.a" in path:
                libgcc += size
    return core, libgcc, ram


def stack(elf):
    if shutil.which(QEMU) is None:
        return None
    p = subprocess.run(["timeout", "60", QEMU, "-M", "lm3s6965evb", "-nographic",
                        "-semihosting-config", "enable=on,target=native", "-kernel", elf],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    m = re.search(r"^footprint: ok, stack (\d+)$", p.stdout, re.M)
    if p.returncode != 0 or not m:
        sys.exit("footprint: %s failed (exit status %d):\n%s" % (elf, p.returncode, p.stdout))
    return int(m.group(1))


def main():
    rows = []
    for prog, pdefs in PROGRAMS:
        for cfg, cdefs in CONFIGS:
            name = (prog.split()[0] if prog != "client and server" else "both") + "-" + cfg
            elf, mapfile = build(name, pdefs + cdefs)
            core, libgcc, ram = measure(mapfile)
            if core == 0 or ram == 0:
                sys.exit("footprint: %s: no core objects or no RAM found in the map" % mapfile)
            rows.append((prog, cfg, core, libgcc, ram, stack(elf)))
    print("| program | configuration | flash: core | flash: libgcc | static RAM | stack "
          "| RAM in all |")
    print("|---|---|---|---|---|---|---|")
    for prog, cfg, core, libgcc, ram, st in rows:
        print("| %s | %s | %d | %d | %d | %s | %s |" % (
            prog, cfg, core, libgcc, ram, "-" if st is None else st,
            "-" if st is None else ram + st))
    if any(r[5] is None for r in rows):
        print("footprint: %s not found: the stack was not measured" % QEMU)


if __name__ == "__main__":
    main()

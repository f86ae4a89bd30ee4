#!/usr/bin/env python3
"""What ptxas made of each kernel, from the binary alone (no GPU needed).

    scripts/sass_report.py BINARY [--filter TEXT]            one build
    scripts/sass_report.py BINARY_A BINARY_B [--filter TEXT]  two builds, kernel by kernel
    scripts/sass_report.py --self-test

BINARY is `fa`, a test binary or an object file (build/release/CMakeFiles/fa_steps.dir/...).
Per kernel of the sm_90a code: registers and stack bytes (`cuobjdump -res-usage`; a kernel
that moves registers with setmaxnreg shows its launch count), the wgmma chains (HGMMA per
WARPGROUP.ARRIVE: below 4 means ptxas serialized them, see tests/check_wgmma_batching.py), and
the length of the tile loop (the innermost loop with 8 or more HGMMA), in instructions.

With two builds, each kernel is "same" (the same instructions), "same but constants" (the
same but for the offsets of constant-bank operands, e.g. kernel parameters that moved), or
"differs", with both builds' figures. This is what the notes mean by SASS-identical.

cuobjdump is taken from $CUOBJDUMP, else PATH, else /usr/local/cuda/bin; c++filt from PATH.
"""

import os
import re
import shutil
import subprocess
import sys

MIN_PER_ARRIVE = 4   # the shortest wgmma chain of step 06 (S at D = 64: 4 k-steps)
MIN_LOOP_HGMMA = 8   # a tile loop holds S and P V: at least 8 HGMMA
INSTRUCTION = re.compile(r"^\s*/\*([0-9a-f]{4,})\*/\s*(.*?)\s*;")
BRANCH_BACK = re.compile(r"\bBRA\s+(?:\S+\s+)?`?\(?\.?[A-Z_0-9]*\)?\s*0x([0-9a-f]+)")
CONSTANT = re.compile(r"c\[0x[0-9a-f]+\]\[0x[0-9a-f]+\]")


def tool(name, env=None):
    path = os.environ.get(env) if env else None
    path = path or shutil.which(name) or f"/usr/local/cuda/bin/{name}"
    if not os.access(path, os.X_OK):
        sys.exit(f"sass_report: {name} not found (PATH, /usr/local/cuda/bin" + (f", ${env}" if env else "") + ")")
    return path


def parse_sass(text, arch="sm_90a"):
    """{mangled name: [(address, instruction)]} of the kernels compiled for `arch`."""
    functions, name, this_arch = {}, None, None
    for line in text.splitlines():
        if "code for sm_" in line:
            this_arch, name = line.split("code for ", 1)[1].strip(), None
        elif "Function : " in line:
            name = line.split("Function : ", 1)[1].strip() if this_arch == arch else None
            if name is not None:
                functions[name] = []
        elif name is not None:
            m = INSTRUCTION.match(line)
            if m:
                functions[name].append((int(m.group(1), 16), m.group(2)))
    return functions


def parse_resources(text, arch="sm_90a"):
    """{mangled name: (registers, stack bytes)} from `cuobjdump -res-usage` for `arch`."""
    resources, name, this_arch = {}, None, None
    for line in text.splitlines():
        if line.startswith("arch = "):
            this_arch = line.split("=", 1)[1].strip()
        m = re.match(r"\s*Function (\S+):", line)
        if m:
            name = m.group(1) if this_arch == arch else None
        m = re.search(r"REG:(\d+) STACK:(\d+)", line)
        if m and name:
            resources[name] = (int(m.group(1)), int(m.group(2)))
    return resources


def chains(instructions):
    """(HGMMA, WARPGROUP.ARRIVE) counts."""
    ops = [text for _, text in instructions]
    return sum("HGMMA." in x for x in ops), sum("WARPGROUP.ARRIVE" in x for x in ops)


def serialized(hgmma, arrive):
    """ptxas gave the HGMMAs fewer than MIN_PER_ARRIVE per WARPGROUP.ARRIVE: not issued in chains."""
    return hgmma < MIN_PER_ARRIVE * max(arrive, 1)


def tile_loop(instructions):
    """Instructions of the innermost backward branch's body that holds MIN_LOOP_HGMMA HGMMA."""
    index = {address: i for i, (address, _) in enumerate(instructions)}
    best = None
    for i, (address, text) in enumerate(instructions):
        m = BRANCH_BACK.search(text)
        if not m:
            continue
        target = int(m.group(1), 16)
        if target < address and target in index:
            body = instructions[index[target]:i + 1]
            if sum("HGMMA." in x for _, x in body) >= MIN_LOOP_HGMMA and (best is None or len(body) < len(best)):
                best = body
    return best or []


def fingerprint(instructions, constants=True):
    texts = [text for _, text in instructions]
    return tuple(texts if constants else (CONSTANT.sub("c[X]", t) for t in texts))


def short_names(mangled, cxxfilt):
    """Demangled names without namespaces, anonymous-namespace hashes and parameter lists."""
    if not mangled:
        return {}
    out = subprocess.run([cxxfilt], input="\n".join(mangled), capture_output=True, text=True, check=True).stdout
    names = {}
    for m, d in zip(mangled, out.splitlines()):
        d = d.replace("(anonymous namespace)::", "")
        d = d[len("void "):] if d.startswith("void ") else d
        d = re.sub(r"\([^()]*\)$", "", d) if d.endswith(")") and "(" in d else d
        d = re.sub(r"\b(?:\w+::)+(?=\w)", "", d)  # fa::warp_specialized::flash3_kernel -> flash3_kernel
        d = re.sub(r"\(Variant\)(\d+)", lambda v: VARIANTS.get(int(v.group(1)), v.group(0)), d)
        names[m] = d
    return names


def variants():
    """Step 06's Variant enum, in order, from its header (for readable kernel names)."""
    header = os.path.join(os.path.dirname(__file__), "..", "steps", "06_warp_specialized", "warp_specialized.hpp")
    try:
        text = open(header).read()
    except OSError:
        return {}
    body = re.search(r"enum class Variant \{(.*?)\};", text, re.S)
    names = re.findall(r"^\s*(\w+),", body.group(1), re.M) if body else []
    return dict(enumerate(names))


VARIANTS = variants()


def load(binary, cuobjdump):
    sass = subprocess.run([cuobjdump, "-sass", binary], capture_output=True, text=True, check=True).stdout
    res = subprocess.run([cuobjdump, "-res-usage", binary], capture_output=True, text=True, check=True).stdout
    return parse_sass(sass), parse_resources(res)


def summary(instructions, resources):
    hgmma, arrive = chains(instructions)
    reg, stack = resources if resources else ("?", "?")
    wgmma = "-" if not hgmma else f"{hgmma}/{arrive}" + (" SERIALIZED" if serialized(hgmma, arrive) else "")
    loop = len(tile_loop(instructions)) if hgmma else "-"
    return [str(reg), str(stack), wgmma, str(loop)]


def table(rows):
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def report(paths, pattern):
    cuobjdump, cxxfilt = tool("cuobjdump", "CUOBJDUMP"), tool("c++filt")
    builds = [load(p, cuobjdump) for p in paths]
    names = {}
    for functions, _ in builds:
        names.update(short_names(sorted(functions), cxxfilt))
    # The anonymous namespace's hash differs between builds: kernels are matched by short name.
    by_name = [{names[m]: (f[m], r.get(m)) for m in f} for f, r in builds]
    kernels = sorted(k for k in by_name[0] if pattern in k)
    if len(paths) == 1:
        rows = [["kernel", "regs", "stack", "HGMMA/ARRIVE", "tile loop"]]
        rows += [[k] + summary(*by_name[0][k]) for k in kernels]
        return table(rows)
    rows = [["kernel", "A vs B", "regs A/B", "stack A/B", "HGMMA/ARRIVE A | B", "tile loop A/B"]]
    counts = {}
    for k in kernels + sorted(k for k in by_name[1] if pattern in k and k not in by_name[0]):
        a, b = by_name[0].get(k), by_name[1].get(k)
        if a is None or b is None:
            verdict = "only in B" if a is None else "only in A"
        elif fingerprint(a[0]) == fingerprint(b[0]):
            verdict = "same"
        elif fingerprint(a[0], False) == fingerprint(b[0], False):
            verdict = "same but constants"
        else:
            verdict = "differs"
        counts[verdict] = counts.get(verdict, 0) + 1
        sa = summary(*a) if a else ["", "", "", ""]
        sb = summary(*b) if b else ["", "", "", ""]
        rows.append([k, verdict, f"{sa[0]}/{sb[0]}", f"{sa[1]}/{sb[1]}", f"{sa[2]} | {sb[2]}", f"{sa[3]}/{sb[3]}"])
    return table(rows) + "\n" + ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))


def self_test():
    def kernel(body):
        return "".join(f"        /*{16 * i:04x}*/ {x} ;\n" for i, x in enumerate(body))
    loop = ["WARPGROUP.ARRIVE"] + ["HGMMA.64x128x16.F32 R24, gdesc[UR4], R24"] * 8 + ["ISETP.NE.AND P0, PT, R2, c[0x0][0x210], PT"]
    body = ["MOV R1, c[0x0][0x28]"] + loop + ["BRA 0x10", "EXIT"]
    serial = ["WARPGROUP.ARRIVE", "HGMMA.64x64x16.F32 R24, gdesc[UR4], R24", "WARPGROUP.DEPBAR.LE gsb0, 0x0"] * 4
    sass = ("\tcode for sm_90a\n\tFunction : k1\n" + kernel(body) + "\tFunction : k2\n" + kernel(serial) +
            "\tcode for sm_80\n\tFunction : k1\n" + kernel(["EXIT"]))
    functions = parse_sass(sass)
    assert sorted(functions) == ["k1", "k2"] and len(functions["k1"]) == 13, functions
    assert len(tile_loop(functions["k1"])) == 11, tile_loop(functions["k1"])  # from 0x10 to the BRA
    assert chains(functions["k1"]) == (8, 1) and chains(functions["k2"]) == (4, 4)
    assert summary(functions["k2"], (168, 72))[2].endswith("SERIALIZED")
    moved = [(a, t.replace("0x210", "0x218")) for a, t in functions["k1"]]
    assert fingerprint(moved) != fingerprint(functions["k1"])
    assert fingerprint(moved, False) == fingerprint(functions["k1"], False)
    res = ("arch = sm_80\n Function k1:\n  REG:40 STACK:0 SHARED:0\narch = sm_90a\n Function k1:\n"
           "  REG:128 STACK:120 SHARED:1024 LOCAL:0\n Function k2:\n  REG:168 STACK:72 SHARED:0\n")
    assert parse_resources(res) == {"k1": (128, 120), "k2": (168, 72)}, parse_resources(res)
    print("self-test: kernels, tile loop, chains, constant offsets and resources parsed as expected")


def main(argv):
    if argv == ["--self-test"]:
        self_test()
        return 0
    pattern = ""
    if "--filter" in argv:
        i = argv.index("--filter")
        if i + 1 >= len(argv):
            print("sass_report: --filter needs a value", file=sys.stderr)
            return 2
        pattern = argv[i + 1]
        argv = argv[:i] + argv[i + 2:]
    if len(argv) not in (1, 2) or any(a.startswith("-") for a in argv):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    for p in argv:
        if not os.path.isfile(p):
            print(f"sass_report: {p}: no such file", file=sys.stderr)
            return 2
    print(report(argv, pattern))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

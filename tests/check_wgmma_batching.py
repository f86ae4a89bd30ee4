#!/usr/bin/env python3
"""Checks, without a GPU, that ptxas kept step 06's wgmma chains asynchronous.

    python3 tests/check_wgmma_batching.py CUOBJDUMP FA_BINARY
    python3 tests/check_wgmma_batching.py --self-test

A chain of wgmma.mma_async (one S = Q K^T or one O += P V: 4 to 8 instructions) compiles to one
WARPGROUP.ARRIVE followed by its HGMMAs. When ptxas cannot follow the accumulator registers (a
branch around a wgmma, a non-wgmma instruction touching them mid-chain), it serializes them:
every HGMMA then gets its own WARPGROUP.ARRIVE and WARPGROUP.DEPBAR, and the kernel runs the
tensor cores one instruction at a time. It still computes the right answer, so only the timing
on a GPU would show it (step 06's full kernel measured 0.63-0.90x, notes/worklog.md); the SASS
shows it here.

Fails when a kernel with HGMMA has fewer than 4 of them per WARPGROUP.ARRIVE (sass_report.serialized), or
when the binary holds no HGMMA at all (no sm_90a code: then nothing was checked).
"""

import importlib.util
import subprocess
import sys
from pathlib import Path

# The SASS parsing is scripts/sass_report.py's (one parser for the report and this check).
_spec = importlib.util.spec_from_file_location(
    "sass_report", Path(__file__).resolve().parent.parent / "scripts" / "sass_report.py")
sass_report = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sass_report)


def count_per_function(sass):
    """{function name: (HGMMA count, WARPGROUP.ARRIVE count)} from `cuobjdump -sass` text, over
    the sm_90a code only (a multi-arch build lists each kernel once per architecture)."""
    counts = {name: sass_report.chains(code) for name, code in sass_report.parse_sass(sass).items()}
    return {name: c for name, c in counts.items() if c[0] > 0}


def serialized(counts):
    """The functions whose HGMMAs are not issued in chains."""
    return sorted(n for n, c in counts.items() if sass_report.serialized(*c))


def self_test():
    chain = "        /*0100*/ WARPGROUP.ARRIVE ;\n" + "        /*0110*/ HGMMA.64x128x16.F32 R24, gdesc[UR4], R24 ;\n" * 4
    lone = ("        /*0100*/ WARPGROUP.ARRIVE ;\n        /*0110*/ HGMMA.64x128x16.F32 R24, gdesc[UR4], R24 ;\n"
            "        /*0120*/ WARPGROUP.DEPBAR.LE gsb0, 0x0 ;\n") * 4
    sass = ("\tcode for sm_90a\n\tFunction : batched\n" + chain * 2 + "\tFunction : serial\n" + lone +
            "\tFunction : no_wgmma\n        /*0100*/ FFMA R1, R2, R3, R4 ;\n"
            "\tcode for sm_80\n\tFunction : batched\n        /*0100*/ HMMA.16816.F32 R4, R8, R12, R4 ;\n")
    counts = count_per_function(sass)
    assert counts == {"batched": (8, 2), "serial": (4, 4)}, counts
    assert serialized(counts) == ["serial"], serialized(counts)
    print("self-test: a serialized chain is flagged, a batched one is not, other architectures are skipped")


def main():
    if sys.argv[1:] == ["--self-test"]:
        self_test()
        return 0
    if len(sys.argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    cuobjdump, binary = sys.argv[1:]
    sass = subprocess.run([cuobjdump, "-sass", binary], check=True, capture_output=True, text=True).stdout
    counts = count_per_function(sass)
    if not counts:
        print(f"{binary}: no HGMMA in any kernel (built without sm_90a?): nothing checked", file=sys.stderr)
        return 1
    bad = serialized(counts)
    for name in bad:
        hgmma, arrive = counts[name]
        print(f"serialized wgmma: {name}: {hgmma} HGMMA, {arrive} WARPGROUP.ARRIVE", file=sys.stderr)
    print(f"{len(counts)} kernels with wgmma, {len(bad)} serialized")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

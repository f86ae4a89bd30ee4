#!/usr/bin/env python3
"""Tests of the course exercises (scripts/make_exercises.py). Python 3 standard library only.

    test_exercises.py [--skip-code N] [unittest arguments, e.g. -v MarkerRules]

  MarkerRules            the generator on small made-up files: the student version, hints, stubs,
                         --only, --in-place, --out, --list, and every marker error
  RepoExercises          the repository's own exercises: --list lists them all, generation strips
                         every region, an edition is a faithful copy of the repository
  StudentKernelsCompile  nvcc -c on every generated student kernel file (FA_NVCC, else nvcc on
                         PATH or in /usr/local/cuda/bin; skipped without one)
  StudentEditionBuilds   a whole student edition, configured and built with the release preset;
                         runs only with FA_EXERCISES_BUILD_EDITION=1 (CTest's exercises_edition)

--skip-code N exits with N when every test that ran was skipped, so that CTest reports
"Skipped" (SKIP_RETURN_CODE) instead of a pass.
"""
from __future__ import annotations

import concurrent.futures
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path
from typing import Dict, List

sys.dont_write_bytecode = True  # importing the generator must not write into the source tree

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "make_exercises.py"
NVCC_FLAGS = ["-std=c++17", "-O3", "-gencode=arch=compute_90a,code=sm_90a"]
KERNEL_STEPS = ["01", "02", "03", "04", "05", "06"]  # the steps that must carry 2-4 exercises each

_spec = importlib.util.spec_from_file_location("make_exercises", SCRIPT)
mx = importlib.util.module_from_spec(_spec)
assert _spec.loader is not None
sys.modules["make_exercises"] = mx  # dataclasses look their module up there
_spec.loader.exec_module(mx)


def run_gen(*args: str, root: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "--root", str(root), *args],
                          capture_output=True, text=True)


def norm(text: str) -> str:
    return " ".join(text.split())


def check_student_version(test: unittest.TestCase, src: str, out: str, path: str) -> int:
    """Walks a solution file and its student version side by side: every line outside the
    regions is kept in place, and every region became exactly its EXERCISE line, the TODO
    comment (the hint, re-wrapped) and the stub lines uncommented. Returns the regions seen."""
    s, o = src.split("\n"), out.split("\n")
    i = j = regions = 0
    while i < len(s):
        m = mx.EXERCISE_RE.match(s[i])
        if m and i + 1 < len(s) and mx.BEGIN_RE.match(s[i + 1]):
            eid, indent = m["id"], m["indent"]
            end = next(k for k in range(i + 2, len(s)) if mx.END_RE.match(s[k]))
            body = s[i + 2:end]
            hints = [mx.HINT_RE.match(l)["text"] for l in body if mx.HINT_RE.match(l)]
            stubs = [mx.STUB_RE.match(l) for l in body if mx.STUB_RE.match(l)]
            test.assertEqual(o[j], s[i], f"{path}: EXERCISE {eid} line kept")
            head = f"{indent}// TODO(EXERCISE {eid}): "
            cont = f"{indent}//" + " " * (len(head) - len(indent) - 2)
            test.assertTrue(o[j + 1].startswith(head), f"{path}: TODO line of {eid}: {o[j + 1]!r}")
            todo, j = [o[j + 1][len(head):]], j + 2
            while j < len(o) and o[j].startswith(cont) and o[j][len(cont):len(cont) + 1] != " ":
                todo.append(o[j][len(cont):])
                j += 1
            test.assertTrue(hints, f"{path}: {eid} has a hint")
            test.assertEqual(norm(" ".join(todo)), norm(" ".join(hints)), f"{path}: hint of {eid}")
            for st in stubs:
                code = st["code"] or ""
                test.assertEqual(o[j], st["indent"] + code if code else "", f"{path}: stub of {eid}")
                j += 1
            i, regions = end + 1, regions + 1
            continue
        test.assertLess(j, len(o), f"{path}: student version ends early (source line {i + 1})")
        test.assertEqual(o[j], s[i], f"{path}: line {i + 1} outside the regions is kept")
        i, j = i + 1, j + 1
    test.assertEqual(j, len(o), f"{path}: student version has extra lines")
    for n, line in enumerate(o, 1):
        for rx in (mx.BEGIN_RE, mx.END_RE, mx.HINT_RE, mx.STUB_RE):
            test.assertIsNone(rx.match(line), f"{path}:{n}: marker left in the student version")
    return regions


# ---------------------------------------------------------------------------------------------

DEMO = """\
// a made-up kernel file
int before = 1;
  // EXERCISE 4.1: the first exercise
  // BEGIN SOLUTION
  // HINT: the first line of the hint,
  // HINT: and its second line.
  int solution_a = compute_a();
  int solution_b = compute_b(solution_a);
  // STUB: int solution_b = 0;  // wrong on purpose
  // END SOLUTION
int middle = solution_b;
// EXERCISE 4.2: the second exercise
// BEGIN SOLUTION
// HINT: call the secret.
secret_code();

// END SOLUTION
int after = 3;
"""

DEMO_STUDENT = """\
// a made-up kernel file
int before = 1;
  // EXERCISE 4.1: the first exercise
  // TODO(EXERCISE 4.1): the first line of the hint, and its second line.
  int solution_b = 0;  // wrong on purpose
int middle = solution_b;
// EXERCISE 4.2: the second exercise
// TODO(EXERCISE 4.2): call the secret.
int after = 3;
"""


class MarkerRules(unittest.TestCase):
    REL = "steps/04_demo/demo.cu"

    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="fa-exercises-"))
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.write(DEMO)

    def write(self, text: str, rel: str = REL) -> Path:
        p = self.tmp / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        return p

    def expect_error(self, text: str, line: int, words: str, *args: str, rel: str = REL) -> None:
        self.write(text, rel)
        r = run_gen(*(args or ("--step", "04")), root=self.tmp)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(r.stdout, "")
        lines = r.stderr.strip().split("\n")
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn(f"{rel}:{line}: ", lines[0])
        self.assertIn(words, lines[0])

    def test_student_version(self) -> None:
        r = run_gen("--step", "04", root=self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, DEMO_STUDENT)
        self.assertEqual(check_student_version(self, DEMO, r.stdout, self.REL), 2)
        for secret in ("compute_a", "compute_b", "secret_code", "SOLUTION", "HINT", "STUB"):
            self.assertNotIn(secret, r.stdout)

    def test_step_names(self) -> None:
        for name in ("4", "04", "04_demo", "demo"):
            self.assertEqual(run_gen("--step", name, root=self.tmp).stdout, DEMO_STUDENT, name)
        r = run_gen("--step", "7", root=self.tmp)
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown step '7'", r.stderr)

    def test_out_and_in_place(self) -> None:
        out = self.tmp / "student.cu"
        r = run_gen("--step", "04", "--out", str(out), root=self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(out.read_text(), DEMO_STUDENT)
        self.assertEqual((self.tmp / self.REL).read_text(), DEMO)  # the solution is untouched
        r = run_gen("--step", "04", "--in-place", root=self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual((self.tmp / self.REL).read_text(), DEMO_STUDENT)
        r = run_gen("--step", "04", "--in-place", root=self.tmp)  # a student version stays as it is
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual((self.tmp / self.REL).read_text(), DEMO_STUDENT)

    def test_only(self) -> None:
        r = run_gen("--step", "04", "--only", "4.2", root=self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("  int solution_a = compute_a();\n  int solution_b = compute_b(solution_a);\n", r.stdout)
        self.assertNotIn("EXERCISE 4.1", r.stdout)
        self.assertIn("// TODO(EXERCISE 4.2): call the secret.\n", r.stdout)
        self.assertNotIn("secret_code", r.stdout)
        r = run_gen("--step", "04", "--only", "4.9", root=self.tmp)
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown exercise 4.9", r.stderr)

    def test_list(self) -> None:
        r = run_gen("--list", root=self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = [l.split() for l in r.stdout.strip().split("\n")[1:]]
        self.assertEqual([(x[0], x[1], x[-1]) for x in rows],
                         [("4.1", "04_demo", f"{self.REL}:3"), ("4.2", "04_demo", f"{self.REL}:12")])
        self.assertIn("the first exercise", r.stdout)

    def test_edition(self) -> None:
        self.write("plain file, copied as it is\n", "notes/readme.md")
        self.write("// EXERCISE 9.9: a marker in a text file is not converted\n", "notes/example.md")
        dest = self.tmp / "edition"
        r = run_gen("--edition", str(dest), root=self.tmp)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual((dest / self.REL).read_text(), DEMO_STUDENT)
        self.assertEqual((dest / "notes/readme.md").read_text(), "plain file, copied as it is\n")
        self.assertTrue((dest / "notes/example.md").read_text().startswith("// EXERCISE 9.9"))
        self.assertFalse((dest / "edition").exists())
        r = run_gen("--edition", str(dest), root=self.tmp)  # not empty now
        self.assertEqual(r.returncode, 2)
        self.assertIn("not empty", r.stderr)
        self.assertEqual(run_gen("--edition", str(dest), "--force", root=self.tmp).returncode, 0)

    def test_edition_writes_nothing_on_a_marker_error(self) -> None:
        self.write(DEMO.replace("// END SOLUTION\nint after", "int after"))
        dest = self.tmp / "edition"
        r = run_gen("--edition", str(dest), root=self.tmp)
        self.assertEqual(r.returncode, 1)
        self.assertFalse(dest.exists())

    # The marker errors: exit status 1, one line naming the file and the line.
    def test_unclosed_region(self) -> None:
        self.expect_error(DEMO.replace("// END SOLUTION\nint after", "int after"), 13, "never closed")

    def test_end_without_begin(self) -> None:
        self.expect_error(DEMO + "// END SOLUTION\n", 19, "END SOLUTION without a BEGIN SOLUTION")

    def test_nested_begin(self) -> None:
        self.expect_error(DEMO.replace("secret_code();", "// BEGIN SOLUTION\nsecret_code();"), 15, "cannot nest")

    def test_nested_exercise(self) -> None:
        nested = "// EXERCISE 4.3: inner\n// BEGIN SOLUTION\n"
        self.expect_error(DEMO.replace("secret_code();", nested + "secret_code();"), 15, "cannot nest")

    def test_duplicate_id_in_one_file(self) -> None:
        self.expect_error(DEMO.replace("EXERCISE 4.2", "EXERCISE 4.1"), 12, "EXERCISE 4.1 is duplicated")

    def test_duplicate_id_across_files(self) -> None:
        other = "// EXERCISE 4.2: again\n// BEGIN SOLUTION\n// HINT: h\nx();\n// END SOLUTION\n"
        self.expect_error(other, 1, "EXERCISE 4.2 is duplicated", "--list", rel="steps/04_demo/more.cu")

    def test_begin_without_exercise(self) -> None:
        self.expect_error(DEMO.replace("// EXERCISE 4.2: the second exercise\n", ""), 12,
                          "without an '// EXERCISE N.M: title' line")

    def test_exercise_without_begin(self) -> None:
        self.expect_error(DEMO.replace("// EXERCISE 4.2: the second exercise\n",
                                       "// EXERCISE 4.2: the second exercise\nint gap;\n"), 12,
                          "not followed by '// BEGIN SOLUTION'")

    def test_region_without_hint(self) -> None:
        self.expect_error(DEMO.replace("// HINT: call the secret.\n", ""), 13, "no '// HINT: text' line")

    def test_empty_region(self) -> None:
        self.expect_error(DEMO.replace("secret_code();\n", ""), 13, "no solution code")

    def test_code_after_stub(self) -> None:
        self.expect_error(DEMO.replace("  // END SOLUTION\nint middle", "  leak();\n  // END SOLUTION\nint middle"),
                          10, "after a STUB line")

    def test_hint_after_code(self) -> None:
        self.expect_error(DEMO.replace("secret_code();\n", "secret_code();\n// HINT: late\n"), 16,
                          "HINT line after solution code")

    def test_stub_outside_region(self) -> None:
        self.expect_error(DEMO + "// STUB: x = 0;\n", 19, "STUB line outside")

    def test_malformed_markers(self) -> None:
        cases = [  # (the line as written, the marker it should have been, its line in DEMO)
            ("// BEGIN SOLUTIONS", "// BEGIN SOLUTION\n// HINT: call", 13),
            ("//BEGIN SOLUTION", "// BEGIN SOLUTION\n// HINT: call", 13),
            ("// begin solution", "// BEGIN SOLUTION\n// HINT: call", 13),
            ("// EXERCISE 4.2 no colon", "// EXERCISE 4.2: the second exercise", 12),
            ("// END  SOLUTION", "// END SOLUTION\nint after", 17),
            ("// HINT:no space", "// HINT: call the secret.", 14),
        ]
        for bad, good, line in cases:
            with self.subTest(bad=bad):
                rest = good.split("\n", 1)[1] if "\n" in good else ""
                self.expect_error(DEMO.replace(good, bad + ("\n" + rest if rest else "")), line, "malformed")

    def test_id_must_match_the_step(self) -> None:
        self.expect_error(DEMO.replace("EXERCISE 4.2", "EXERCISE 3.2"), 12, "its id must start with 4.")


# ---------------------------------------------------------------------------------------------

def repo_marked() -> Dict[str, str]:
    return mx.marked_files(ROOT, mx.repo_files(ROOT))


def has_solutions(marked: Dict[str, str]) -> bool:
    return any(mx.BEGIN_RE.match(l) for text in marked.values() for l in text.split("\n"))


class RepoExercises(unittest.TestCase):
    def setUp(self) -> None:
        self.marked = repo_marked()
        if not has_solutions(self.marked):
            self.skipTest("no solution regions here (a student edition?)")

    def exercise_lines(self) -> List[tuple]:
        """(id, step, title, file:line) of every EXERCISE line, found without the generator."""
        rows = []
        for rel in mx.repo_files(ROOT):
            if Path(rel).suffix not in mx.CODE_SUFFIXES:
                continue
            for n, line in enumerate((ROOT / rel).read_text(errors="replace").split("\n"), 1):
                m = re.match(r"^\s*// EXERCISE (\d+\.\d+): (.*\S)\s*$", line)
                if m:
                    rows.append((m[1], mx.step_of(rel) or "-", m[2], f"{rel}:{n}"))
        return sorted(rows, key=lambda r: tuple(int(x) for x in r[0].split(".")))

    def test_list_lists_every_exercise(self) -> None:
        r = run_gen("--list")
        self.assertEqual(r.returncode, 0, r.stderr)
        listed = []
        for line in r.stdout.strip().split("\n")[1:]:
            m = re.match(r"^(\d+\.\d+)\s+(\S+)\s+(.*?)\s+(\S+:\d+)$", line)
            self.assertIsNotNone(m, line)
            listed.append(m.groups())
        self.assertEqual(listed, self.exercise_lines())

    def test_every_kernel_step_has_two_to_four_exercises(self) -> None:
        per_step: Dict[str, int] = {}
        for eid, step, _, _ in self.exercise_lines():
            per_step[step[:2]] = per_step.get(step[:2], 0) + 1
        for s in KERNEL_STEPS:
            self.assertIn(per_step.get(s, 0), (2, 3, 4), f"step {s} has {per_step.get(s, 0)} exercises")

    def test_generation_strips_every_region(self) -> None:
        total = 0
        for rel, text in self.marked.items():
            with self.subTest(file=rel):
                r = run_gen("--step", mx.step_of(rel))
                self.assertEqual(r.returncode, 0, r.stderr)
                regions = check_student_version(self, text, r.stdout, rel)
                self.assertGreater(regions, 0)
                total += regions
                # A student version converts to itself.
                self.assertEqual(mx.convert(r.stdout, rel), r.stdout)
        self.assertEqual(total, len(self.exercise_lines()))

    def test_edition_is_a_faithful_copy(self) -> None:
        with tempfile.TemporaryDirectory(prefix="fa-edition-") as tmp:
            dest = Path(tmp) / "student"
            r = run_gen("--edition", str(dest))
            self.assertEqual(r.returncode, 0, r.stderr)
            files = mx.repo_files(ROOT)
            copied = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file() or p.is_symlink())
            self.assertEqual(copied, sorted(files))
            for rel in files:
                got = (dest / rel).read_bytes()
                if rel in self.marked:
                    self.assertEqual(got.decode(), mx.convert(self.marked[rel], rel), rel)
                    self.assertNotIn(b"BEGIN SOLUTION", got, rel)
                else:
                    self.assertEqual(got, (ROOT / rel).read_bytes(), rel)
            r2 = run_gen("--list", root=dest)
            self.assertEqual(r2.returncode, 0, r2.stderr)
            ids = lambda out: [l.split()[0] for l in out.strip().split("\n")[1:]]
            self.assertEqual(ids(r2.stdout), ids(run_gen("--list").stdout))


# ---------------------------------------------------------------------------------------------

def find_nvcc() -> str:
    for c in (os.environ.get("FA_NVCC"), shutil.which("nvcc"), "/usr/local/cuda/bin/nvcc"):
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            return c
    return ""


class StudentKernelsCompile(unittest.TestCase):
    """One nvcc -c per generated student kernel file, with the project's flags, in parallel."""

    def test_student_kernels_compile(self) -> None:
        nvcc = find_nvcc()
        if not nvcc:
            self.skipTest("nvcc not found (set FA_NVCC): the student kernels were not compiled")
        kernels = sorted(rel for rel in repo_marked() if rel.endswith(".cu"))
        self.assertTrue(kernels, "no marked kernel files")
        with tempfile.TemporaryDirectory(prefix="fa-student-nvcc-") as tmp:
            dest = Path(tmp) / "student"
            r = run_gen("--edition", str(dest))
            self.assertEqual(r.returncode, 0, r.stderr)

            def compile_one(rel: str):
                obj = Path(tmp) / (rel.replace("/", "_") + ".o")
                cmd = [nvcc, *NVCC_FLAGS, f"-I{dest}", "-c", str(dest / rel), "-o", str(obj)]
                t0 = time.monotonic()
                p = subprocess.run(cmd, capture_output=True, text=True)
                return rel, cmd, p, time.monotonic() - t0

            workers = max(1, min(len(kernels), os.cpu_count() or 1))
            with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
                results = list(pool.map(compile_one, kernels))
        for rel, cmd, p, secs in results:
            print(f"nvcc {rel}: exit {p.returncode}, {secs:.1f} s", file=sys.stderr)
            with self.subTest(file=rel):
                self.assertEqual(p.returncode, 0, f"{' '.join(cmd)}\n{p.stdout}{p.stderr}")
                # A stub must not leave a variable unused (warning #177-D) or set but unused (#550-D).
                self.assertNotRegex(p.stderr, r"#(177|550)-D", f"{rel}: a stub leaves a variable unused:\n{p.stderr}")


class StudentEditionBuilds(unittest.TestCase):
    """cmake --preset release && cmake --build --preset release in a fresh student edition."""

    def test_student_edition_builds(self) -> None:
        if os.environ.get("FA_EXERCISES_BUILD_EDITION") != "1":
            self.skipTest("set FA_EXERCISES_BUILD_EDITION=1 to build a whole student edition")
        cmake = os.environ.get("FA_CMAKE") or shutil.which("cmake")
        if not cmake:
            self.skipTest("cmake not found (set FA_CMAKE)")
        nvcc = find_nvcc()
        work = Path(os.environ.get("FA_EXERCISES_WORK_DIR") or tempfile.mkdtemp(prefix="fa-edition-build-"))
        dest = work / "student-edition"
        if dest.exists():
            shutil.rmtree(dest)  # this test's own output from an earlier run
        work.mkdir(parents=True, exist_ok=True)
        r = run_gen("--edition", str(dest))
        self.assertEqual(r.returncode, 0, r.stderr)
        configure = [cmake, "--preset", "release"] + ([f"-DCMAKE_CUDA_COMPILER={nvcc}"] if nvcc else [])
        for name, cmd in (("configure", configure), ("build", [cmake, "--build", "--preset", "release"]),
                          ("fa list", [str(dest / "build/release/fa"), "list"])):
            t0 = time.monotonic()
            p = subprocess.run(cmd, cwd=dest, capture_output=True, text=True)
            log = work / f"edition-{name.replace(' ', '-')}.log"
            log.write_text(p.stdout + p.stderr)
            print(f"student edition {name}: exit {p.returncode}, {time.monotonic() - t0:.0f} s (log {log})",
                  file=sys.stderr)
            self.assertEqual(p.returncode, 0, f"{' '.join(cmd)} in {dest}:\n{(p.stdout + p.stderr)[-6000:]}")
        self.assertIn("04_fused", p.stdout)


def main() -> int:
    argv = sys.argv[1:]
    skip_code = None
    if argv[:1] == ["--skip-code"] and len(argv) >= 2:
        skip_code, argv = int(argv[1]), argv[2:]
    prog = unittest.main(module=__name__, argv=[sys.argv[0]] + argv, exit=False)
    result = prog.result
    if not result.wasSuccessful():
        return 1
    if skip_code is not None and result.testsRun and len(result.skipped) == result.testsRun:
        for test, reason in result.skipped:
            print(f"Skipped {test.id()}: {reason}", file=sys.stderr)
        return skip_code
    return 0


if __name__ == "__main__":
    sys.exit(main())

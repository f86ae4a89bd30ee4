#!/usr/bin/env python3
"""Course exercises from the solution code: one source of truth, no kernel code kept twice.

The kernels in steps/NN_name/ carry marked regions (notes/exercises.md has the list):

    // EXERCISE 4.2: rescale the accumulator when the row max grows
    // BEGIN SOLUTION
    // HINT: first line of the hint (one or more HINT lines, first in the region)
    ...the solution lines...
    // STUB: const float m_ref = 0.f;   (zero or more STUB lines, last in the region)
    // END SOLUTION

In the solution every marker is a comment, so the solution builds and runs unchanged. The
student version of a region is the EXERCISE line, a `// TODO(EXERCISE 4.2): <hint>` line (more
hint lines follow as aligned comments), and the STUB lines uncommented, with the indentation of
their `//`: code that compiles and runs (no hang, no out-of-bounds access) but fails the
driver's check until the exercise is solved. Everything else in the file is kept as it is.

Usage:
    make_exercises.py --list [--step 04]            the exercises: id, step, title, file:line
    make_exercises.py --step 04                     the student version of step 04, on stdout
    make_exercises.py --step 04 --out FILE          ... into FILE
    make_exercises.py --step 04 --in-place          ... over the step's own kernel file
    make_exercises.py --edition DIR                 a whole student edition of the repository
    make_exercises.py ... --only 4.2,4.3            strip only these regions; the other regions
                                                    keep their solution (markers removed)

The edition holds every file git knows or would add (`git ls-files --cached --others
--exclude-standard`), or, outside git, a plain copy of the tree without .git, build*/ and
__pycache__; C, C++ and CUDA files that carry markers are converted. Marker errors (an
unclosed region, END without BEGIN, nested regions, a duplicated id, a region without its
EXERCISE line, a missing HINT, code after a STUB) stop the script with one line naming the
file and line, exit status 1; a bad command line exits with 2. Python 3 standard library only.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Set, Tuple

PROG = "make_exercises.py"
WRAP = 110  # columns of the generated TODO comments
CODE_SUFFIXES = {".cu", ".cuh", ".cpp", ".hpp", ".h", ".cc", ".cxx", ".hxx", ".c"}
STEP_DIR_RE = re.compile(r"^(\d\d)_[A-Za-z0-9_]+$")

# The strict forms of the markers.
EXERCISE_RE = re.compile(r"^(?P<indent>[ \t]*)// EXERCISE (?P<id>\d+\.\d+): (?P<title>\S.*?)\s*$")
BEGIN_RE = re.compile(r"^[ \t]*// BEGIN SOLUTION\s*$")
END_RE = re.compile(r"^[ \t]*// END SOLUTION\s*$")
HINT_RE = re.compile(r"^[ \t]*// HINT: (?P<text>\S.*?)\s*$")
STUB_RE = re.compile(r"^(?P<indent>[ \t]*)// STUB:(?: (?P<code>.*?))?\s*$")
TODO_RE = re.compile(r"^[ \t]*// TODO\(EXERCISE (?P<id>\d+\.\d+)\): ")
# Anything that looks like a marker; a line that matches this but none of the strict forms
# above is malformed (a typo must not silently leave solution code in a student version).
OPERATOR_RE = re.compile(r" ([*/%+-]) ")  # a binary operator between two spaces, in a hint
LOOSE_RE = re.compile(r"^[ \t]*//\s*(EXERCISE\b|(?i:BEGIN\s*SOLUTION)|(?i:END\s*SOLUTION)|HINT\b|STUB\b)")
LOOSE_TODO_RE = re.compile(r"^[ \t]*//\s*TODO\s*\(\s*EXERCISE\b")


class MarkerError(Exception):
    """A malformed marker: printed as `file:line: message`."""

    def __init__(self, path: str, line: int, message: str):
        super().__init__(f"{path}:{line}: {message}")


class UsageError(Exception):
    """A bad command line (exit status 2)."""


@dataclass
class Exercise:
    id: str
    title: str
    path: str        # relative to the repository root, with forward slashes
    line: int        # 1-based line of the EXERCISE line
    step: str        # "04_fused", or "" outside steps/
    indent: str
    hints: List[str] = field(default_factory=list)
    stub: List[Tuple[str, str]] = field(default_factory=list)  # (indent, code)
    solution: List[str] = field(default_factory=list)           # the region's code lines
    begin: int = 0   # 1-based lines of BEGIN and END SOLUTION (0 for a generated exercise)
    end: int = 0
    generated: bool = False  # already a student version (EXERCISE + TODO, no region)


@dataclass
class Parsed:
    lines: List[str]                       # the file's lines, without line ends
    exercises: List[Exercise]


def step_of(path: str) -> str:
    parts = Path(path).parts
    if len(parts) >= 3 and parts[0] == "steps" and STEP_DIR_RE.match(parts[1]):
        return parts[1]
    return ""


def parse(text: str, path: str, seen: Optional[Dict[str, Exercise]] = None) -> Parsed:
    """Parses the markers of one file; `seen` collects ids across files to catch duplicates."""
    if seen is None:
        seen = {}
    lines = text.split("\n")
    step = step_of(path)
    exercises: List[Exercise] = []
    pending: Optional[Exercise] = None   # EXERCISE line seen, BEGIN (or TODO) expected next
    region: Optional[Exercise] = None    # inside BEGIN .. END
    phase = "hint"                       # inside a region: hint, then code, then stub

    for n, line in enumerate(lines, 1):
        ex_m = EXERCISE_RE.match(line)
        is_begin, is_end = bool(BEGIN_RE.match(line)), bool(END_RE.match(line))
        hint_m, stub_m, todo_m = HINT_RE.match(line), STUB_RE.match(line), TODO_RE.match(line)
        strict = ex_m or is_begin or is_end or hint_m or stub_m
        if not strict and LOOSE_RE.match(line):
            raise MarkerError(path, n, f"malformed marker {line.strip()!r} (the forms are "
                              "'// EXERCISE N.M: title', '// BEGIN SOLUTION', '// HINT: text', "
                              "'// STUB: code', '// END SOLUTION')")
        if not todo_m and LOOSE_TODO_RE.match(line):
            raise MarkerError(path, n, f"malformed TODO line {line.strip()!r} "
                              "(the form is '// TODO(EXERCISE N.M): hint')")

        if pending is not None and not (is_begin or todo_m):
            raise MarkerError(path, pending.line, f"EXERCISE {pending.id} is not followed by "
                              "'// BEGIN SOLUTION' on the next line")

        if ex_m:
            if region is not None:
                raise MarkerError(path, n, f"EXERCISE {ex_m['id']} inside the region of EXERCISE "
                                  f"{region.id} (BEGIN SOLUTION at line {region.begin}): regions "
                                  "cannot nest")
            eid = ex_m["id"]
            if step and int(eid.split(".")[0]) != int(step[:2]):
                raise MarkerError(path, n, f"EXERCISE {eid} is in step {step}: its id must "
                                  f"start with {int(step[:2])}.")
            pending = Exercise(eid, ex_m["title"], path, n, step, ex_m["indent"])
        elif is_begin:
            if region is not None:
                raise MarkerError(path, n, f"BEGIN SOLUTION inside the region of EXERCISE "
                                  f"{region.id} (opened at line {region.begin}): regions "
                                  "cannot nest")
            if pending is None:
                raise MarkerError(path, n, "BEGIN SOLUTION without an '// EXERCISE N.M: title' "
                                  "line right before it")
            # Ids are unique among the solution regions; a student version of the same file
            # (EXERCISE + TODO, no region) may sit beside its solution.
            if pending.id in seen:
                first = seen[pending.id]
                raise MarkerError(path, pending.line, f"EXERCISE {pending.id} is duplicated (first "
                                  f"defined at {first.path}:{first.line})")
            seen[pending.id] = pending
            region, pending, phase = pending, None, "hint"
            region.begin = n
        elif is_end:
            if region is None:
                raise MarkerError(path, n, "END SOLUTION without a BEGIN SOLUTION")
            if not region.hints:
                raise MarkerError(path, region.begin, f"EXERCISE {region.id} has no "
                                  "'// HINT: text' line (the first lines of its region)")
            if not any(s.strip() for s in region.solution):
                raise MarkerError(path, region.begin, f"EXERCISE {region.id} has no solution "
                                  "code between BEGIN and END SOLUTION")
            region.end = n
            exercises.append(region)
            region = None
        elif hint_m:
            if region is None:
                raise MarkerError(path, n, "HINT line outside a BEGIN/END SOLUTION region")
            if phase != "hint":
                raise MarkerError(path, n, f"HINT line after solution code in EXERCISE "
                                  f"{region.id}: HINT lines come first in the region")
            region.hints.append(hint_m["text"])
        elif stub_m:
            if region is None:
                raise MarkerError(path, n, "STUB line outside a BEGIN/END SOLUTION region")
            phase = "stub"
            region.stub.append((stub_m["indent"], stub_m["code"] or ""))
        elif todo_m:
            if region is not None:
                raise MarkerError(path, n, f"TODO(EXERCISE {todo_m['id']}) line inside the region "
                                  f"of EXERCISE {region.id}")
            if pending is None or pending.id != todo_m["id"]:
                raise MarkerError(path, n, f"TODO(EXERCISE {todo_m['id']}) without its "
                                  f"'// EXERCISE {todo_m['id']}: title' line right before it")
            pending.generated = True  # a student version already: left as it is
            exercises.append(pending)
            pending = None
        elif region is not None:
            if line.strip():
                if phase == "stub":
                    raise MarkerError(path, n, f"solution code after a STUB line in EXERCISE "
                                      f"{region.id}: STUB lines come last in the region")
                phase = "code"
            region.solution.append(line)

    if region is not None:
        raise MarkerError(path, region.begin, f"BEGIN SOLUTION of EXERCISE {region.id} is never "
                          "closed (no END SOLUTION)")
    if pending is not None:
        raise MarkerError(path, pending.line, f"EXERCISE {pending.id} is not followed by "
                          "'// BEGIN SOLUTION' on the next line")
    return Parsed(lines, exercises)


def todo_lines(ex: Exercise) -> List[str]:
    """The TODO comment: the HINT lines joined and re-wrapped to WRAP columns, aligned."""
    head = f"{ex.indent}// TODO(EXERCISE {ex.id}): "
    cont = f"{ex.indent}//{' ' * (len(head) - len(ex.indent) - 2)}"
    # No line break beside a binary operator, so that `t * kBlockN` or `kk / 4` stays on one line:
    # its spaces are no-break spaces while the lines are cut.
    words = OPERATOR_RE.sub("\u00a0\\1\u00a0", " ".join(ex.hints))
    wrapped = textwrap.wrap(words, width=max(40, WRAP - len(head)), break_long_words=False,
                            break_on_hyphens=False) or [""]
    wrapped = [w.replace("\u00a0", " ") for w in wrapped]
    return [head + wrapped[0]] + [cont + w for w in wrapped[1:]]


def convert(text: str, path: str, only: Optional[Set[str]] = None,
            seen: Optional[Dict[str, Exercise]] = None) -> str:
    """The student version of one file. Regions whose id is in `only` (all when None) become
    EXERCISE + TODO + stub; the others keep their solution code, without the marker lines."""
    parsed = parse(text, path, seen)
    by_begin = {ex.begin: ex for ex in parsed.exercises if not ex.generated}
    out: List[str] = []
    n, lines = 0, parsed.lines
    while n < len(lines):
        ex = by_begin.get(n + 1)  # line n + 1 (1-based) is a BEGIN SOLUTION
        if ex is None:
            out.append(lines[n])
            n += 1
            continue
        # out[-1] is the EXERCISE line (BEGIN follows it directly).
        if only is None or ex.id in only:
            out += todo_lines(ex)
            out += [indent + code if code else "" for indent, code in ex.stub]
        else:
            out.pop()
            out += ex.solution
        n = ex.end  # resume after END SOLUTION
    result = "\n".join(out)
    for k, line in enumerate(out, 1):  # self-check: no region marker survives
        if BEGIN_RE.match(line) or END_RE.match(line) or HINT_RE.match(line) or STUB_RE.match(line):
            raise MarkerError(path, k, "internal error: a marker survived the conversion")
    return result


# ---------------------------------------------------------------------------------------------
# Files of the repository.

def default_root() -> Path:
    return Path(__file__).resolve().parent.parent


def repo_files(root: Path, exclude: Optional[Path] = None) -> List[str]:
    """Relative paths (forward slashes) of the files an edition holds, sorted."""
    files: Optional[List[str]] = None
    try:
        top = subprocess.run(["git", "-C", str(root), "rev-parse", "--show-toplevel"],
                             capture_output=True, text=True, check=True).stdout.strip()
        if Path(top).resolve() == root.resolve():
            raw = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--cached", "--others",
                                  "--exclude-standard"], capture_output=True, check=True).stdout
            files = sorted({p for p in raw.decode("utf-8").split("\0") if p})
    except (OSError, subprocess.CalledProcessError):
        files = None
    if files is None:  # not a git work tree (or no git): a plain copy
        files = []
        for dirpath, dirnames, filenames in os.walk(root):
            rel_dir = Path(dirpath).relative_to(root)
            dirnames[:] = sorted(d for d in dirnames if d not in (".git", "__pycache__") and
                                 not (rel_dir == Path(".") and d.startswith("build")))
            for f in filenames:
                files.append((rel_dir / f).as_posix())
        files.sort()
    keep = []
    for rel in files:
        full = root / rel
        if not (full.is_file() or full.is_symlink()):
            continue  # tracked but deleted in the work tree
        if exclude is not None:
            try:
                full.resolve().relative_to(exclude.resolve())
                continue  # inside the output directory itself
            except ValueError:
                pass
        keep.append(rel)
    return keep


def has_markers(text: str) -> bool:
    return any(LOOSE_RE.match(l) or LOOSE_TODO_RE.match(l) for l in text.split("\n"))


def marked_files(root: Path, files: Sequence[str]) -> Dict[str, str]:
    """{relative path: text} of the C/C++/CUDA files that carry markers."""
    out = {}
    for rel in files:
        full = root / rel
        if Path(rel).suffix not in CODE_SUFFIXES or full.is_symlink():
            continue
        text = full.read_text(encoding="utf-8", errors="surrogateescape")
        if has_markers(text):
            out[rel] = text
    return out


def all_exercises(root: Path, files: Sequence[str]) -> List[Exercise]:
    seen: Dict[str, Exercise] = {}
    exercises: List[Exercise] = []
    for rel, text in marked_files(root, files).items():
        exercises += parse(text, rel, seen).exercises
    return sorted(exercises, key=lambda e: tuple(int(x) for x in e.id.split(".")))


def find_step(root: Path, name: str) -> str:
    steps = sorted(p.name for p in (root / "steps").iterdir()
                   if p.is_dir() and STEP_DIR_RE.match(p.name)) if (root / "steps").is_dir() else []
    for s in steps:
        number, word = s[:2], s[3:]
        if name in (s, number, word) or (name.isdigit() and int(name) == int(number)):
            return s
    raise UsageError(f"unknown step '{name}' (steps: {', '.join(steps) or 'none'})")


def parse_only(arg: Optional[str], known: Sequence[Exercise]) -> Optional[Set[str]]:
    if arg is None:
        return None
    ids = {x.strip() for x in arg.split(",") if x.strip()}
    unknown = sorted(ids - {e.id for e in known})
    if unknown:
        raise UsageError(f"--only: unknown exercise {', '.join(unknown)} (known: "
                         f"{', '.join(e.id for e in known) or 'none'})")
    return ids


def write_text(path: Path, text: str, mode_from: Optional[Path] = None) -> None:
    tmp = path.with_name(path.name + ".tmp-make-exercises")
    tmp.write_text(text, encoding="utf-8", errors="surrogateescape")
    if mode_from is not None:
        shutil.copymode(mode_from, tmp)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# The three modes.

def cmd_list(root: Path, step: Optional[str], out) -> int:
    files = repo_files(root)
    exercises = all_exercises(root, files)
    if step is not None:
        exercises = [e for e in exercises if e.step == step]
    if not exercises:
        print("no exercises" + (f" in step {step}" if step else ""), file=out)
        return 0
    rows = [("id", "step", "title", "where")] + [
        (e.id, e.step or "-", e.title, f"{e.path}:{e.line}") for e in exercises]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}", file=out)
    return 0


def cmd_step(root: Path, step: str, only_arg: Optional[str], in_place: bool,
             out_file: Optional[str]) -> int:
    files = repo_files(root)
    all_ex = all_exercises(root, files)  # validates every file (duplicate ids across steps)
    mine = {rel: text for rel, text in marked_files(root, files).items() if step_of(rel) == step}
    if not mine:
        raise UsageError(f"step {step} has no exercises")
    only = parse_only(only_arg, [e for e in all_ex if e.step == step])
    if (out_file is not None or not in_place) and len(mine) > 1:
        raise UsageError(f"step {step} has {len(mine)} marked files ({', '.join(mine)}): "
                         "use --in-place")
    for rel, text in mine.items():
        student = convert(text, rel, only)
        if in_place:
            if student != text:
                write_text(root / rel, student, mode_from=root / rel)
            print(f"{rel}: student version written in place", file=sys.stderr)
        elif out_file is not None:
            write_text(Path(out_file), student)
        else:
            sys.stdout.write(student)
    return 0


def cmd_edition(root: Path, dest: Path, only_arg: Optional[str], force: bool) -> int:
    dest = dest.absolute()
    if dest.resolve() == root.resolve():
        raise UsageError("--edition DIR must not be the repository itself")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())) and not force:
        raise UsageError(f"{dest} exists and is not empty (--force writes over it)")
    files = repo_files(root, exclude=dest)
    marked = marked_files(root, files)
    all_ex = all_exercises(root, files)  # every file validated before anything is written
    only = parse_only(only_arg, all_ex)
    converted = {rel: convert(text, rel, only) for rel, text in marked.items()}
    for rel in files:
        src, dst = root / rel, dest / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if dst.is_symlink() or (dst.exists() and src.is_symlink()):
            dst.unlink()
        if src.is_symlink():
            os.symlink(os.readlink(src), dst)
        elif rel in converted:
            # Over an earlier edition (--force), an unchanged file keeps its time stamp, so a
            # build there recompiles only the kernels whose exercises changed.
            text = converted[rel]
            if not (dst.is_file() and dst.read_text(encoding="utf-8", errors="surrogateescape") == text):
                write_text(dst, text, mode_from=src)
        else:
            shutil.copy2(src, dst)
    stubbed = [e for e in all_ex if not e.generated and (only is None or e.id in only)]
    print(f"student edition in {dest}: {len(files)} files; {len(stubbed)} of {len(all_ex)} exercises "
          f"stubbed; {len(converted)} marked files converted", file=sys.stderr)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(
        prog=PROG, description="Student versions of the workbook's kernels, from the marked "
        "solution regions (see notes/exercises.md). One of --list, --step or --edition.")
    ap.add_argument("--list", action="store_true", help="print the exercises: id, step, title, file:line")
    ap.add_argument("--step", metavar="STEP", help="one step (04, 4, 04_fused, fused): its student kernel "
                    "file on stdout, or with --out / --in-place; with --list, that step's exercises")
    ap.add_argument("--edition", metavar="DIR", help="write a whole student edition of the repository into DIR")
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--in-place", action="store_true", help="with --step: rewrite the step's kernel file")
    where.add_argument("--out", metavar="FILE", help="with --step: write the student version to FILE")
    ap.add_argument("--only", metavar="IDS", help="with --step or --edition: comma-separated exercise ids "
                    "to strip (default: all); the other regions keep their solution code")
    ap.add_argument("--force", action="store_true", help="with --edition: write into a non-empty DIR")
    ap.add_argument("--root", metavar="DIR", help="the repository (default: the one holding this script)")
    args = ap.parse_args(argv)
    root = Path(args.root).absolute() if args.root else default_root()
    try:
        if sum([args.list, args.edition is not None, bool(args.step) and not args.list]) != 1:
            raise UsageError("give one of --list [--step STEP], --step STEP, --edition DIR")
        if (args.in_place or args.out) and (args.list or args.edition is not None):
            raise UsageError("--in-place and --out go with --step alone")
        if args.force and args.edition is None:
            raise UsageError("--force goes with --edition")
        if args.edition is not None and args.step:
            raise UsageError("--edition converts every step: drop --step (--only picks exercises)")
        if args.list and args.only:
            raise UsageError("--only does not go with --list")
        step = find_step(root, args.step) if args.step else None
        if args.list:
            return cmd_list(root, step, sys.stdout)
        if args.edition is not None:
            return cmd_edition(root, Path(args.edition), args.only, args.force)
        assert step is not None
        return cmd_step(root, step, args.only, args.in_place, args.out)
    except (MarkerError, UsageError, OSError) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2 if isinstance(e, UsageError) else 1


if __name__ == "__main__":
    sys.exit(main())

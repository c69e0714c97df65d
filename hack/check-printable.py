#!/usr/bin/env python3
"""Fail when the CRDs or the chart hold a character a real API server refuses (issue 18).

A Kubernetes API server reads server-side apply bodies with a YAML reader that refuses any
character outside YAML 1.1's printable set (#x9 | #xA | #xD | [#x20-#x7E] | #x85 |
[#xA0-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]), and builds the protobuf form of
/openapi/v2 the same way. PyYAML's reader enforces exactly that set. Two checks:
  1. every file under the given directories, as raw text, passes PyYAML's reader;
  2. every YAML file (except Helm templates) is parsed, and every string in it (keys and
     values: a CRD's patterns and descriptions included, after escapes such as "\\uFFFE" are
     decoded) must hold only printable characters too, since that string is what kubectl and
     Helm send to the API server as raw UTF-8.

Usage: hack/check-printable.py [DIR_OR_FILE ...]   (default: crds charts)
"""
import pathlib
import sys

import yaml
from yaml.reader import Reader, ReaderError

ROOT = pathlib.Path(__file__).resolve().parent.parent


def unprintable(text):
    return [c for c in text if Reader.NON_PRINTABLE.match(c)]


def strings(value, path):
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, child in value.items():
            if isinstance(key, str):
                yield f"{path}.{key} (key)", key
            yield from strings(child, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from strings(item, f"{path}[{index}]")


def files(args):
    for arg in args:
        path = pathlib.Path(arg)
        if not path.is_absolute():
            path = ROOT / path
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            yield path
        else:
            raise SystemExit(f"check-printable: no such file or directory: {arg}")


def main(args):
    problems = []
    checked = strings_checked = 0
    for path in files(args or ["crds", "charts"]):
        name = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as error:
            problems.append(f"{name}: not UTF-8 ({error})")
            continue
        checked += 1
        try:
            Reader(text)
        except ReaderError as error:
            problems.append(f"{name}: {error}".replace("\n", " "))
        if path.suffix not in (".yaml", ".yml") or "templates" in path.parts:
            continue
        try:
            documents = list(yaml.safe_load_all(text))
        except yaml.YAMLError as error:
            problems.append(f"{name}: not YAML: {error}".replace("\n", " "))
            continue
        for index, document in enumerate(documents):
            for where, value in strings(document, f"{name}#{index}"):
                strings_checked += 1
                bad = unprintable(value)
                if bad:
                    shown = ", ".join(sorted({f"U+{ord(c):04X}" for c in bad}))
                    problems.append(f"{where}: {shown} in {value[:120]!r}")
    for problem in problems:
        print(f"check-printable: {problem}", file=sys.stderr)
    if problems:
        print(
            f"check-printable: {len(problems)} problem(s); a real API server refuses these "
            "characters (`yaml: control characters are not allowed`). Write them as escapes "
            "(RE2 `\\x{FFFE}` in patterns) and regenerate: cargo run -- crd",
            file=sys.stderr,
        )
        return 1
    print(f"check-printable: {checked} files, {strings_checked} YAML strings: all printable")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

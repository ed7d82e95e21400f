#!/usr/bin/env python3
"""Runs the commands of README.md and docs/*.md against a fresh `baton demo`.

Every fenced block whose info string starts with `sh` is checked (the README's twice in a row,
against the same demo: its story must hold when told again):

- ```sh                     run: each page's blocks in order, in one bash (`set -eo pipefail`,
                            curl fails on an HTTP error), in a scratch folder that sees the
                            repository's `examples/` and `demo/`. A line `# => TEXT` after a
                            command is an answer the page shows: the page's output must contain
                            those answers in order, line by line (`...` stands for any text).
- ```sh checked-by=FILE     needs more than a demo (PostgreSQL, a proxy, systemd): every command
                            line of the block must appear in FILE (a script or test that runs it),
                            values aside: numbers in the page and `$VARIABLES` in FILE match
                            anything, output redirections are ignored, and lines that only set
                            a variable (`NAME=...`, `export NAME=...`) are the reader's own.
- ```sh parse-only          too slow to run here (release builds, benchmarks): every `baton`
                            command (also `cargo run ... -p baton -- ARGS`) is run with `--help`
                            appended, so an unknown subcommand or flag fails; `cargo build ... -p
                            baton` is how the binary under test was made (in debug); any other
                            command must be one that .ci/run runs.
- ```sh manual              needs what no check here has (Docker, compose, systemd as PID 1):
                            not run; the checker counts and lists these blocks so that they stay
                            few and visible (docs/install.md says what scripts/deploy-check.sh
                            exercises instead).

Before a page runs, B (the demo's URL), KEY (its API key), T (the demo admin's session token),
TENANT (its id) and DATABASE (the demo's own SQLite database) are set. The pages write
`http://127.0.0.1:8080` and `KEY=bk_...` as a reader would; the checker puts the real address
and key in their place.

Usage: scripts/check-docs.py [--baton target/debug/baton] [FILE.md ...]
Exits non-zero naming the page, the block's line and what differed.
"""

import argparse
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def blocks(path):
    """Yields (line number, info string, text) for each fenced block of a Markdown file."""
    lines = path.read_text().split("\n")
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)```(.*)$", lines[i])
        if m:
            indent, info = len(m.group(1)), m.group(2).strip()
            start = i + 1
            j = start
            while j < len(lines) and not re.match(r"^\s*```\s*$", lines[j]):
                j += 1
            body = "\n".join(l[indent:] if not indent or l[:indent].isspace() else l.lstrip() for l in lines[start:j])
            yield start, info, body
            i = j + 1
        else:
            i += 1


def command_lines(text):
    """The command lines of a shell block: no blank lines, comments or trailing comments."""
    out = []
    for line in text.split("\n"):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        s = re.sub(r"\s+#\s.*$", "", s)
        out.append(" ".join(s.split()))
    return out


def shape(command):
    """A command with its values blanked: numbers and $VARIABLES become `#`, redirections go."""
    command = re.sub(r"\s*(&>|2>&1|>>?|2>)\s*(\"[^\"]*\"|\S+)?", " ", command)
    command = re.sub(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|\d+", "#", command)
    return " ".join(command.split())


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_json(url, body=None, token=None):
    req = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode())
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


class Demo:
    """A `baton demo` on a scratch folder and a free port."""

    def __init__(self, baton, scratch):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(scratch / "demo.log", "w+")
        self.proc = subprocess.Popen(
            [baton, "demo", "--listen", f"127.0.0.1:{self.port}", "--data-dir", str(scratch / "demo")],
            stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, "BATON_LOG": "warn"},
            cwd=scratch,
        )
        deadline = time.time() + 60
        banner = ""
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"baton demo exited:\n{self.output()}")
            banner = self.output()
            if "Tenant:" in banner:
                try:
                    urllib.request.urlopen(self.base + "/readyz", timeout=2)
                    break
                except OSError:
                    pass
            time.sleep(0.1)
        else:
            raise SystemExit(f"baton demo did not start within 60 s:\n{banner}")
        self.key = re.search(r"Integration API key \(bots, channels\): (\S+)", banner).group(1)
        self.tenant = re.search(r"Tenant: (\S+)", banner).group(1)
        self.admin_token = http_json(
            self.base + "/v1/auth/login", {"email": "admin@demo.baton.dev", "password": "baton-demo"}
        )["token"]

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def expected_matches(expected, line):
    pattern = ".*".join(re.escape(part) for part in expected.split("..."))
    return re.fullmatch(pattern, line.strip()) is not None


def run_page(page, runnable, demo, baton, scratch, time_=0):
    """Runs a page's plain `sh` blocks in one bash; returns a list of failures."""
    work = scratch / f"page-{page.parent.name}-{page.stem}-{time_}"
    work.mkdir()
    for name in ("examples", "demo"):
        (work / name).symlink_to(ROOT / name)
    script = [
        "set -eo pipefail",
        'curl() { command curl --fail-with-body "$@"; }',
        f"B={demo.base}",
        f"KEY={demo.key}",
        f"T={demo.admin_token}",
        f"TENANT={demo.tenant}",
        f"DATABASE=sqlite://{scratch}/demo/baton.db",
        f'export PATH={shlex.quote(str(Path(baton).resolve().parent))}:"$PATH"',
    ]
    expected = []
    for line_no, text in runnable:
        text = text.replace("http://127.0.0.1:8080", demo.base).replace("KEY=bk_...", f"KEY={demo.key}")
        script.append(f"echo '--- {page.name}:{line_no}' >&2")
        script.append(text)
        for line in text.split("\n"):
            m = re.match(r"^\s*# => (.*)$", line)
            if m:
                expected.append((line_no, m.group(1)))
    result = subprocess.run(
        ["bash", "-c", "\n".join(script)], cwd=work, capture_output=True, text=True, timeout=300
    )
    failures = []
    if result.returncode != 0:
        failures.append(
            f"{page}: exited {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr[-3000:]}"
        )
        return failures
    out = result.stdout.split("\n")
    pos = 0
    for line_no, want in expected:
        while pos < len(out) and not expected_matches(want, out[pos]):
            pos += 1
        if pos == len(out):
            failures.append(
                f"{page}:{line_no}: expected the answer {want!r} (in order); the page printed:\n{result.stdout}"
            )
            break
        pos += 1
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baton", default=str(ROOT / "target" / "debug" / "baton"))
    parser.add_argument("files", nargs="*")
    args = parser.parse_args()
    files = [Path(f).resolve() for f in args.files] or [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for tool in ("bash", "curl", "jq"):
        if subprocess.run(["which", tool], capture_output=True).returncode != 0:
            raise SystemExit(f"check-docs needs {tool}")
    failures = []
    counts = {"run": 0, "checked-by": 0, "parse-only": 0, "manual": 0}
    manual = []
    pages = []
    for page in files:
        runnable = []
        for line_no, info, text in blocks(page):
            words = info.split()
            if not words or words[0] not in ("sh", "bash", "shell"):
                continue
            opts = words[1:]
            where = f"{page.relative_to(ROOT)}:{line_no}"
            if any(o.startswith("checked-by=") for o in opts):
                counts["checked-by"] += 1
                targets = [ROOT / t for o in opts if o.startswith("checked-by=") for t in o.split("=", 1)[1].split(",")]
                haystack = set()
                for t in targets:
                    if not t.is_file():
                        failures.append(f"{where}: checked-by names {t.relative_to(ROOT)}, which does not exist")
                    else:
                        haystack |= {shape(line) for line in command_lines(t.read_text())}
                for cmd in command_lines(text):
                    if re.match(r"^(export\s+)?[A-Za-z_][A-Za-z0-9_]*=", cmd):
                        continue
                    if shape(cmd) not in haystack and not any(shape(cmd) in h for h in haystack):
                        failures.append(f"{where}: `{cmd}` is not in {', '.join(str(t.relative_to(ROOT)) for t in targets)}")
            elif "parse-only" in opts:
                counts["parse-only"] += 1
                ci = {shape(line) for line in command_lines((ROOT / ".ci" / "run").read_text())}
                for cmd in command_lines(text):
                    argv = shlex.split(cmd)
                    if argv[:1] == ["cargo"] and "--" in argv and argv[1] == "run":
                        argv = ["baton", *argv[argv.index("--") + 1:]]
                    if not argv or not argv[0].endswith("baton"):
                        if not (argv[:2] == ["cargo", "build"] and "baton" in argv) and shape(cmd) not in ci:
                            failures.append(f"{where}: `{cmd}` is neither run here nor by .ci/run")
                        continue
                    r = subprocess.run([args.baton, *argv[1:], "--help"], capture_output=True, text=True)
                    if r.returncode != 0:
                        failures.append(f"{where}: `{cmd}` does not parse:\n{r.stderr}")
            elif opts == ["manual"]:
                counts["manual"] += 1
                manual.append(where)
            elif opts:
                failures.append(f"{where}: unknown block option {' '.join(opts)!r}")
            else:
                counts["run"] += 1
                runnable.append((line_no, text))
        if runnable:
            pages.append((page, runnable))
    with tempfile.TemporaryDirectory(prefix="baton-docs-") as tmp:
        scratch = Path(tmp)
        demo = Demo(args.baton, scratch)
        try:
            for page, runnable in pages:
                # The README's story must hold when told again to the same demo.
                times = 2 if page == ROOT / "README.md" else 1
                for time_ in range(times):
                    print(f"{page.relative_to(ROOT)}: {len(runnable)} blocks" + (" (again)" if time_ else ""), flush=True)
                    failures += run_page(page, runnable, demo, args.baton, scratch, time_)
        finally:
            demo.stop()
    print(f"checked: {counts['run']} blocks run, {counts['checked-by']} matched against their checker, "
          f"{counts['parse-only']} parsed, {counts['manual']} not run (manual: {', '.join(manual) or 'none'})")
    if failures:
        print("\n\n".join(failures), file=sys.stderr)
        sys.exit(1)
    print("all commands in the docs work as written")


if __name__ == "__main__":
    main()

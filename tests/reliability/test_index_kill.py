"""Kill `ingest` at random moments: the index is always the whole old one or the whole new one.

Ingests run in child processes forked by a helper process that imported the package once (so a
kill costs milliseconds, not an interpreter start), plus two runs of the real command line.
Each ingest replaces index A by index B or the other way round; it is sent SIGKILL while it
reads and indexes, or at a varied moment after its build folder appears (writing, hashing,
fsync, the swap), or just after the swap (while it removes the old build). After every kill
the folder must load, and hold exactly A or exactly B: its passage count and the results of
three questions.

Run with `-s` to see the counts.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from parallel_tiers.services.retrieval import BM25Retriever, ingest, read_corpus

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (POSIX)")

KILLS = 24
"""Kills of a running ingest to make (the test stops trying after twice as many attempts)."""
QUERIES = ("w1 w2 w3", "w10 w200 w333", "w42 w7")
HELPER = r"""
import os, sys
from parallel_tiers.services.retrieval import ingest

for line in sys.stdin:
    corpus, index = line.rstrip("\n").split("\t")
    pid = os.fork()
    if pid == 0:
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # stdout is the protocol's
        code = 1
        try:
            ingest(corpus, index)
            code = 0
        finally:
            os._exit(code)
    print(pid, flush=True)
    sys.stdin.readline()  # reaped only when told: until then its pid cannot be reused
    print(os.waitpid(pid, 0)[1], flush=True)
"""


def corpus(path: Path, passages: int, seed: int) -> Path:
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(2_000)]
    with path.open("w") as out:
        for i in range(passages):
            text = " ".join(rng.choices(words, k=rng.randint(40, 120)))
            out.write(json.dumps({"id": f"s{seed}-{i}", "title": f"T{i}", "text": text}) + "\n")
    return path


def fingerprint(retriever: BM25Retriever) -> tuple[int, list[list[str]]]:
    """Passage count and the top ids of each query."""
    results = [[d.metadata["id"] for d in retriever.invoke(q)] for q in QUERIES]
    return len(retriever.records), results


@pytest.fixture
def helper() -> Iterator[subprocess.Popen[str]]:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", HELPER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    yield proc
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(timeout=30)


def builds(index: Path) -> set[str]:
    """Names of the build folders in `index`, being written (`.tmp-*`) or done (`v-*`)."""
    return {p.name for p in index.iterdir() if p.name.startswith((".tmp-", "v-"))}


def wait_for_swap(index: Path, running: Callable[[], bool]) -> float:
    """Seconds until `CURRENT` names another build (or the child ends)."""
    start = time.perf_counter()
    old = (index / "CURRENT").read_text()
    while time.perf_counter() - start < 60 and running():
        if (index / "CURRENT").read_text() != old:
            break
        time.sleep(0.0002)
    return time.perf_counter() - start


def wait_for_new_build(index: Path, before: set[str], running: Callable[[], bool]) -> float:
    """Seconds until a build folder not in `before` appears in `index` (or the child ends)."""
    start = time.perf_counter()
    while time.perf_counter() - start < 60 and running() and not builds(index) - before:
        time.sleep(0.0005)
    return time.perf_counter() - start


class Ingests:
    """Starts ingests in forked children of the helper and kills them."""

    def __init__(self, helper: subprocess.Popen[str]) -> None:
        assert helper.stdin is not None and helper.stdout is not None
        self.stdin, self.stdout = helper.stdin, helper.stdout

    def start(self, corpus: Path, index: Path) -> int:
        self.stdin.write(f"{corpus}\t{index}\n")
        self.stdin.flush()
        return int(self.stdout.readline())

    def wait(self) -> int:
        """The child's wait status, once it ends."""
        self.stdin.write("reap\n")
        self.stdin.flush()
        return int(self.stdout.readline())


def calibrate(ingests: Ingests, index: Index) -> tuple[float, float]:
    """Seconds from an ingest's start until its build folder appears, and from then to its end."""
    before = builds(index.folder)
    start = time.perf_counter()
    pid = ingests.start(index.sources[index.other], index.folder)
    appear = wait_for_new_build(index.folder, before, child_running(pid))
    assert ingests.wait() == 0
    index.check(killed=False, label="calibration ")
    return appear, time.perf_counter() - start - appear


def child_running(pid: int) -> Callable[[], bool]:
    """Whether a forked child still runs (not a zombie yet; always True without /proc)."""

    def running() -> bool:
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except (OSError, IndexError):
            return True

    return running


def proc_running(proc: subprocess.Popen[bytes]) -> Callable[[], bool]:
    return lambda: proc.poll() is None


class Index:
    """The index under test: which corpus it holds, and what each kill left in it."""

    def __init__(self, folder: Path, sources: dict[str, Path]) -> None:
        self.folder, self.sources = folder, sources
        self.expected = {
            name: fingerprint(BM25Retriever.from_records(read_corpus(path)))
            for name, path in sources.items()
        }
        ingest(sources["A"], folder)
        self.live = "A"
        self.outcomes: Counter[str] = Counter()

    @property
    def other(self) -> str:
        return "A" if self.live == "B" else "B"

    def check(self, killed: bool, label: str = "") -> None:
        """Load the index: it must be the whole old one or the whole new one."""
        found = fingerprint(BM25Retriever.load(self.folder))  # loads: no damaged mix
        assert found in (self.expected[self.live], self.expected[self.other]), "neither A nor B"
        now = self.live if found == self.expected[self.live] else self.other
        if killed:
            self.outcomes[f"{label}killed"] += 1
            self.outcomes[f"{label}left {'old' if now == self.live else 'new'}"] += 1
        else:
            self.outcomes[f"{label}finished first"] += 1
        self.live = now


def test_a_killed_ingest_leaves_the_old_or_the_new_index(
    tmp_path: Path, helper: subprocess.Popen[str]
) -> None:
    began = time.perf_counter()
    sources = {
        "A": corpus(tmp_path / "a.jsonl", 3_000, 1),
        "B": corpus(tmp_path / "b.jsonl", 3_600, 2),
    }
    index = Index(tmp_path / "index", sources)
    ingests = Ingests(helper)

    # Calibrate: how long after its start an ingest's build folder appears, and the rest (the
    # median of three runs; the window then adapts to the kills that came too late or early).
    runs = sorted(calibrate(ingests, index) for _ in range(3))
    appear, window = runs[1]

    rng = random.Random(20260509)
    moments = []
    attempts = 0
    while index.outcomes["killed"] < KILLS and attempts < 2 * KILLS:
        attempts += 1
        before = builds(index.folder)
        pid = ingests.start(sources[index.other], index.folder)
        started = time.perf_counter()
        share = rng.random()
        if attempts % 6 == 1:  # now and then while it reads and indexes
            moment = share * appear
        elif attempts % 3 == 0:  # right after the swap, while it removes the old build
            moment = wait_for_swap(index.folder, child_running(pid)) + share * 0.002
        else:  # mostly at a varied moment of writing, hashing, fsync and swap
            moment = wait_for_new_build(index.folder, before, child_running(pid))
            moment += share * window
        time.sleep(max(0.0, started + moment - time.perf_counter()))
        os.kill(pid, signal.SIGKILL)  # the child is not reaped yet: its pid is still ours
        status = ingests.wait()
        killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        index.check(killed)
        moments.append(round(moment * 1000))
        if not killed:
            window *= 0.8  # it ended before the kill: aim earlier

    kill_the_command_line(index, rng, window)
    # A complete ingest afterwards removes whatever the killed ones left.
    ingest(sources["A"], index.folder)
    leftovers = [p.name for p in index.folder.iterdir() if p.name.startswith((".tmp", "v-"))]
    assert leftovers == [(index.folder / "CURRENT").read_text().strip()]
    assert fingerprint(BM25Retriever.load(index.folder)) == index.expected["A"]
    n = index.outcomes
    print(
        f"\nkill test: {n['killed']} forked ingests killed ({n['left old']} left the old "
        f"index, {n['left new']} the new one; {n['finished first']} finished before the kill), "
        f"{n['cli killed']} command-line ingests killed ({n['cli left old']} old, "
        f"{n['cli left new']} new); the build folder appears {appear * 1000:.0f} ms into an "
        f"ingest, writing it to the end takes about {window * 1000:.0f} ms; kills at (ms after the "
        f"start) {sorted(moments)}; {time.perf_counter() - began:.1f} s"
    )
    assert n["killed"] >= KILLS
    assert n["left old"] >= 1 and n["left new"] >= 1, n


def kill_the_command_line(index: Index, rng: random.Random, window: float) -> None:
    """Kill `python -m parallel_tiers.cli ingest` twice while it writes its build."""
    for _ in range(2):
        before = builds(index.folder)
        command = [sys.executable, "-m", "parallel_tiers.cli", "ingest"]
        command += [str(index.sources[index.other]), "--index", str(index.folder)]
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        wait_for_new_build(index.folder, before, proc_running(proc))
        time.sleep(rng.uniform(0, 1.1 * window))
        proc.send_signal(signal.SIGKILL)
        index.check(killed=proc.wait() == -signal.SIGKILL, label="cli ")

"""The `parallel-tiers` command: ask a question, ingest a corpus.

parallel-tiers ask "QUESTION" [--mode 1-4] [--agent ID] [--thread ID] [--wait-ms N]
[--confirm TOOL] [--user ID] [--tenant ID] [--sequential] [--timeout-ms N] [--index DIR]
[--model SPEC] [--no-rag] [--no-tools] [--json] [--log-level LEVEL]
parallel-tiers ingest CORPUS.jsonl|FOLDER --index DIR [--dedupe]
parallel-tiers eval retrieval|answers|routing --queries FILE [--index DIR] [--limit N] [--json]

Every command takes `--debug`. An error is one line on stderr (`error: ...`) and a non-zero
exit: 2 for bad input (the line names the field or file), 1 for anything else (such as a
thread still busy with another turn after --wait-ms); `--debug` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import os
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, NoReturn, TextIO

from langchain_core.runnables import RunnableConfig

from parallel_tiers import evals
from parallel_tiers.context import Context
from parallel_tiers.logs import LOGGER_NAME, console_handler
from parallel_tiers.modes import MODES, build_mode_graph
from parallel_tiers.threads import THREAD_WAIT_MS
from parallel_tiers.validation import InvalidInputError

ENV_HOME = "PARALLEL_TIERS_HOME"
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
TIER_LABELS = {"parallel_tier1": "tier1", "parallel_tier2": "tier2"}


def _home() -> Path:
    default = Path.home() / ".local" / "share" / "parallel-tiers"
    return Path(os.environ.get(ENV_HOME) or default)


_CLI_HANDLERS: list[logging.Handler] = []
"""The handler `configure_logging` added to the package logger (replaced on a second call)."""


def configure_logging(level: str) -> None:
    """Show the package's log events on stderr from `level` on, one console line each.

    The command's own output: the library configures no logging (`parallel_tiers.logs`). Only
    the `parallel_tiers` logger is configured; a second call replaces the first.
    """
    logger = logging.getLogger(LOGGER_NAME)
    while _CLI_HANDLERS:
        logger.removeHandler(_CLI_HANDLERS.pop())
    _CLI_HANDLERS.append(console_handler())
    logger.addHandler(_CLI_HANDLERS[0])
    logger.setLevel(level.upper())


@asynccontextmanager
async def _persistence(thread: str | None) -> AsyncIterator[tuple[Any, Any]]:
    """A SQLite checkpointer and store under PARALLEL_TIERS_HOME when a thread is named."""
    if not thread:
        yield None, None
        return
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
    from langgraph.store.sqlite.aio import AsyncSqliteStore

    home = _home()
    home.mkdir(parents=True, exist_ok=True)
    async with (
        AsyncSqliteSaver.from_conn_string(str(home / "checkpoints.sqlite")) as saver,
        AsyncSqliteStore.from_conn_string(str(home / "memory.sqlite")) as store,
    ):
        # Two commands starting at once on new databases would both create the tables and
        # switch the journal mode; SQLite can refuse one of them ("database is locked").
        with _setup_lock(home):
            await saver.setup()
            await store.setup()
        yield saver, store


@contextmanager
def _setup_lock(home: Path) -> Iterator[None]:
    """Hold an exclusive lock on `home/.setup.lock` (POSIX; a no-op where fcntl is missing)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with (home / ".setup.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


async def ask(args: argparse.Namespace, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Run one question through a mode graph, showing branch progress on `err`."""
    mode = MODES[args.mode]
    inputs: dict[str, Any] = {
        "query": args.question,
        "user_id": args.user,
        "tenant_id": args.tenant,
        "session_id": args.thread,
    }
    if args.agent:
        inputs["agent_id"] = args.agent
    if mode.manual:
        inputs["confirmed_tools"] = list(args.confirm or [])
    if args.no_rag:
        inputs["enable_rag"] = False
    if args.no_tools:
        inputs["enable_tools"] = False
    ctx = Context(
        enable_parallel_tier1=not args.sequential,
        enable_parallel_tier2=not args.sequential,
        parallel_timeout_ms=args.timeout_ms,
        index_path=args.index,
        model=args.model,
    )
    config: RunnableConfig | None = (
        {"configurable": {"thread_id": args.thread}} if args.thread else None
    )
    async with _persistence(args.thread) as (saver, store):
        graph = build_mode_graph(
            args.mode, checkpointer=saver, store=store, thread_wait_ms=args.wait_ms
        )
        result: dict[str, Any] = {}
        async for ns, kind, data in graph.astream(
            inputs,
            config=config,
            context=ctx,
            stream_mode=["custom", "values"],
            subgraphs=True,
        ):
            if not isinstance(data, dict):
                continue
            if kind == "custom" and data.get("event") == "branch_finished" and not args.json:
                _progress(data, err)
            elif kind == "values" and not ns:
                result = data
    if args.json:
        json.dump(_jsonable(result), out, indent=2, default=str)
        out.write("\n")
    else:
        render(result, out)
    return 0 if not result.get("error") else 1


def _progress(event: dict[str, Any], err: TextIO) -> None:
    tier = TIER_LABELS.get(event["tier"], event["tier"])
    print(
        f"  · {tier:<5} {event['branch']:<20} {event['status']:<9} {event['duration_ms']:>8.1f} ms",
        file=err,
        flush=True,
    )


def _jsonable(result: dict[str, Any]) -> dict[str, Any]:
    out = dict(result)
    if "messages" in out:
        out["messages"] = [{"type": m.type, "content": m.content} for m in out["messages"]]
    return out


def render(result: dict[str, Any], out: TextIO) -> None:
    """Print the answer, citations, quality, cost, expert and the per-tier timing table."""
    meta = result.get("metadata") or {}
    agent = result.get("selected_agent") or {}
    w = out.write
    w(f"\nExpert: {agent.get('name', '?')} ({agent.get('id', '?')}, {agent.get('selection')})\n")
    if agent.get("reason"):
        w(f"  why: {agent['reason']}\n")
    w(f"\nAnswer:\n{result.get('response', '')}\n")
    if result.get("error"):
        w(f"\n[{result.get('error_code')}] {result['error']}\n")
    w("\nCitations:\n")
    _render_citations(result.get("citations") or [], w)
    qm = result.get("quality_metrics") or {}
    score = result.get("quality_score")
    shown = {k: v for k, v in qm.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    w(
        f"\nQuality: {'n/a' if score is None else f'{score:.2f}'}  "
        + "  ".join(
            f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items()
        )
        + "\n"
    )
    for gap in qm.get("missing") or []:
        w(f"  missing: {gap}\n")
    cost = result.get("cost_data") or {}
    price = cost.get("total_cost_usd")
    w(
        f"Cost:    {cost.get('model', '?')}  tokens in {cost.get('input_tokens', '?')} / out "
        f"{cost.get('output_tokens', '?')}  "
        f"{'price unknown' if price is None else f'${price:.6f}'}\n"
    )
    suggested = ", ".join(s["name"] for s in result.get("suggested_tools") or []) or "-"
    ran = (
        ", ".join(
            f"{t['name']}={t['output'] if t['status'] == 'ok' else t['status']}"
            for t in result.get("tool_results") or []
        )
        or "-"
    )
    w(f"Tools:   suggested {suggested}; ran {ran}\n")
    w(f"Memory:  {len(result.get('memory') or [])} item(s) recalled\n")
    w(f"\n{'tier':<6}{'branch':<22}{'status':<11}{'ms':>10}\n")
    for key, label in TIER_LABELS.items():
        tier = meta.get(key)
        if not tier:
            continue
        for name, task in tier["tasks"].items():
            w(f"{label:<6}{name:<22}{task['status']:<11}{task['duration_ms']:>10.2f}\n")
        w(
            f"{label:<6}{'= tier wall time':<22}{tier['execution']:<11}{tier['duration_ms']:>10.2f}"
            f"   sum of branches {tier['sequential_estimate_ms']:.2f} ms, "
            f"speedup {tier['speedup_vs_sequential']:.2f}x\n"
        )


def _render_citations(citations: list[dict[str, Any]], w: Any) -> None:
    """Each cited passage once, then each claim citing it with its check."""
    by_marker: dict[int, list[dict[str, Any]]] = {}
    for c in citations:
        by_marker.setdefault(int(c["index"]), []).append(c)
    for n, claims in by_marker.items():
        first = claims[0]
        w(f"  [{n}] {first.get('document_id') or '(no such passage)'} {first.get('title') or ''}\n")
        for c in claims:
            mark = "supported" if c["supported"] else "NOT supported"
            w(f"      - {mark}: {c.get('quote') or ''}\n")
    if not citations:
        w("  (none)\n")


def _ingest(args: argparse.Namespace, out: TextIO) -> int:
    from parallel_tiers.services.retrieval import ingest

    report = ingest(args.corpus, args.index, dedupe=args.dedupe)
    out.write(
        f"indexed {report['passages']:,} passages into {report['index']} "
        f"in {report['total_s']:.2f} s\n"
    )
    for warning in report.get("warnings") or []:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors on one line like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def parser() -> argparse.ArgumentParser:
    """The command-line parser."""
    p = _Parser(prog="parallel-tiers", description=__doc__.splitlines()[0])
    p.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    # Also accepted after the command; SUPPRESS keeps a subcommand from resetting it to False.
    common = _Parser(add_help=False)
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks"
    )
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser("ask", help="answer a question", parents=[common])
    a.add_argument("question")
    a.add_argument(
        "--mode",
        type=int,
        choices=sorted(MODES),
        default=2,
        help="1 manual, 2 automatic (default), 3 chat manual, 4 chat automatic",
    )
    a.add_argument("--agent", help="expert id (required in modes 1 and 3)")
    a.add_argument(
        "--thread",
        help="chat thread id; persisted in SQLite under "
        f"${ENV_HOME} (default ~/.local/share/parallel-tiers)",
    )
    a.add_argument(
        "--confirm",
        action="append",
        metavar="TOOL",
        help="manual modes: a suggested tool that may run (repeatable)",
    )
    a.add_argument(
        "--wait-ms",
        type=int,
        default=THREAD_WAIT_MS,
        help="how long to wait for another turn on --thread to end before giving up "
        f"(default {THREAD_WAIT_MS})",
    )
    a.add_argument("--user", default=getpass.getuser(), help="user id for memory")
    a.add_argument("--tenant", default="default", help="tenant id")
    a.add_argument("--sequential", action="store_true", help="run both tiers sequentially")
    a.add_argument("--timeout-ms", type=int, default=5000, help="per-branch time limit")
    a.add_argument("--index", help="index folder from `parallel-tiers ingest`")
    a.add_argument("--model", help='chat model, e.g. "openai:gpt-4o-mini" (default: offline)')
    a.add_argument("--no-rag", action="store_true", help="skip retrieval")
    a.add_argument("--no-tools", action="store_true", help="skip tool suggestion")
    a.add_argument("--json", action="store_true", help="print the whole result as JSON")
    a.add_argument(
        "--log-level",
        default="warning",
        type=str.lower,
        choices=LOG_LEVELS,
        help="level of the log events shown on stderr (default warning)",
    )
    i = sub.add_parser("ingest", help="build a persisted retrieval index", parents=[common])
    i.add_argument("corpus", help="a JSONL corpus or a folder of .md/.txt files")
    i.add_argument("--index", required=True, help="index folder to write")
    i.add_argument(
        "--dedupe",
        action="store_true",
        help="keep the first passage of a duplicated id (default: refuse duplicates)",
    )
    evals.add_parser(sub, parents=[common])
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of `parallel-tiers`: one line on stderr for any error (see the module doc)."""
    args = parser().parse_args(argv)
    try:
        return _run(args)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(f"error: {error_line(exc)}", file=sys.stderr)
        return 2 if isinstance(exc, USER_ERRORS) else 1


USER_ERRORS: tuple[type[Exception], ...] = (InvalidInputError, ValueError, OSError, LookupError)
"""Errors that come from what the user gave (input, settings, files): exit code 2."""


def error_line(exc: BaseException) -> str:
    """`exc` as one line: its message with line breaks folded, else its type."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _run(args: argparse.Namespace) -> int:
    if args.command == "ingest":
        return _ingest(args, sys.stdout)
    if args.command == "eval":
        return evals.main(args)
    configure_logging(args.log_level)
    return asyncio.run(ask(args))


if __name__ == "__main__":
    raise SystemExit(main())

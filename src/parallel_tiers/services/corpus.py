"""Reading a corpus: JSONL lines or a folder of `.md` / `.txt` files, checked before indexing.

A JSONL corpus has one JSON object a line: `id`, `text` (or `content`), and optionally `title`,
`source`, `url` and `section`. A folder corpus has one passage per `.md` / `.txt` file (its id
is the file's path inside the folder; a first line `# Heading` is the title, else the file
name). Its text is read as Markdown reads it: a line break inside a paragraph is a space
(`unwrap_lines`), so a hard-wrapped sentence is one sentence to the offline model and the
citation checks; blank lines, list items, headings, quotes, table rows and code stay lines.

Rules (the reader refuses a corpus that breaks them with one `CorpusError` listing every
problem, the first `MAX_PROBLEMS_SHOWN`, before any index file is written):

- **Lines**: every non-blank line must be UTF-8 JSON holding an object with a non-empty
  string or integer `id` and a string `text` (or `content`); `title`, `source`, `url` and
  `section` are strings (or numbers) when present. A bad line is reported by its 1-based line
  number in the file (blank lines count) and what is wrong with it.
- **Ids** are unique. A repeated id is refused, naming it and both lines, unless `dedupe=True`
  keeps the first passage of each id and reports the ids it dropped.
- **Field sizes**: `id`, `title`, `source`, `url` and `section` are at most `MAX_FIELD_CHARS`
  characters each.
- **Passage size**: a passage longer than `MAX_PASSAGE_CHARS` characters is never indexed
  whole: `split_passages` cuts it into parts of at most that size (see `split_text`), the first
  keeping the passage's id and the next ones `"<id>#2"`, `"<id>#3"`, ..., all with the same
  title, source, url and section. `BM25Retriever.from_records` and `ingest` apply it.
- **Sections**: a record keeps its own `section` as given (None when absent); what section
  *type* a passage has is the domain's knowledge, so the retriever derives it when it indexes
  the passages, with its profile's question types (`QuestionTypes.section_of`).
- **Folders**: the walk never leaves the folder. A symlinked file is read only if its target
  (fully resolved) lies inside the folder (resolved); a symlinked directory is never entered
  (inside the folder its files are read where they lie; outside, they are not the corpus).
  Each symlink not followed, and each file that is not a regular file, is listed in
  `Corpus.skipped`.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from parallel_tiers.profiles import default_profile

MAX_PASSAGE_CHARS = 32_000
"""Longest passage indexed whole (characters); a longer one is split into parts this size or
less. Above MedQuAD's longest passage (26,976 characters), so real passages stay whole; a
longer one is a dump whose quotes and scoring would cost seconds a question."""
MAX_FIELD_CHARS = 2_000
"""Longest `id`, `title`, `source`, `url` or `section` (characters)."""
MAX_PROBLEMS_SHOWN = 20
"""How many problems a `CorpusError` message lists (it counts the rest)."""
FOLDER_SUFFIXES = frozenset({".md", ".txt"})
"""File types read from a folder corpus (case-insensitive)."""
_META_FIELDS = ("title", "source", "url", "section")
_BLANK = object()
"""What `_parse_line` returns for a blank line."""
_FIRST_LINE = re.compile(r"[^\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]*")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*(?=\s)")
_SPACE = re.compile(r"\s")


class CorpusError(ValueError):
    """A corpus that cannot be indexed: every problem found, by line (or file) and cause.

    Attributes:
        source: The corpus file or folder (or `records` for in-memory records).
        problems: Every problem, each `"<where>: <what is wrong>"`.

    """

    def __init__(
        self, source: str, problems: Sequence[str], hint: str | None = None, also: str = ""
    ) -> None:
        self.source = source
        self.problems = list(problems)
        shown = "; ".join(self.problems[:MAX_PROBLEMS_SHOWN])
        more = len(self.problems) - MAX_PROBLEMS_SHOWN
        if more > 0:
            shown += f"; ... and {more:,} more"
        one = len(self.problems) == 1
        count = f"{len(self.problems):,} problem{'' if one else 's'}"
        if hint is None:
            hint = f"fix {'it' if one else 'them'} and ingest again{also}"
        super().__init__(f"corpus: {source} has {count}: {shown}; {hint}")


@dataclass
class Corpus:
    """The passages read from a corpus, and what the reader left out."""

    records: list[dict[str, Any]]
    """The passages, as index records (`id`, `title`, `source`, `url`, `text`, `section` as
    given)."""
    skipped: list[str] = field(default_factory=list)
    """Folder entries not read, each `"<path>: <why>"` (symlinks leaving the folder, ...)."""
    dropped_ids: list[str] = field(default_factory=list)
    """Ids of the later passages dropped by `dedupe=True` (one entry per dropped passage)."""
    dropped: list[str] = field(default_factory=list)
    """The dropped passages, each `"<where>: duplicate id ... (kept <where>)"`."""

    @property
    def warnings(self) -> list[str]:
        """Everything left out, one line each."""
        return [f"skipped {s}" for s in self.skipped] + [f"dropped {d}" for d in self.dropped]


class _Problems:
    """Problems found while reading, with where they are."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.duplicates = False

    def add(self, where: str, what: str) -> None:
        self.items.append(f"{where}: {what}")

    def raise_if_any(self, source: str) -> None:
        if not self.items:
            return
        also = " (or keep the first passage of each id: `ingest --dedupe`, `dedupe=True`)"
        raise CorpusError(source, self.items, also=also if self.duplicates else "")


def read_corpus(path: str | Path, *, dedupe: bool = False) -> list[dict[str, Any]]:
    """The passage records of a JSONL corpus file or a folder of `.md` / `.txt` files.

    Args:
        path: The JSONL file or the folder.
        dedupe: Keep the first passage of each id instead of refusing repeated ids.

    Raises:
        FileNotFoundError: `path` is neither a file nor a folder.
        CorpusError: A line or file breaks the rules of the module docstring.

    """
    return load_corpus(path, dedupe=dedupe).records


def load_corpus(path: str | Path, *, dedupe: bool = False) -> Corpus:
    """Read and check a corpus; like `read_corpus`, with what was skipped or dropped."""
    path = Path(path)
    problems = _Problems()
    skipped: list[str] = []
    if path.is_dir():
        rows = _read_folder(path, problems, skipped)
    elif path.is_file():
        rows = _read_jsonl(path, problems)
    else:
        raise FileNotFoundError(f"corpus: {path} is neither a JSONL file nor a folder")
    corpus = _checked(rows, problems, dedupe)
    corpus.skipped = sorted(skipped)
    problems.raise_if_any(str(path))
    if not corpus.records:
        raise CorpusError(
            str(path),
            ["no passages"],
            "give a JSONL file with one object a line, or a folder of .md/.txt files",
        )
    return corpus


def validate_records(rows: Iterable[Any], source: str = "records") -> list[dict[str, Any]]:
    """Check in-memory rows (fields as in a JSONL line) and return them as index records.

    Raises:
        CorpusError: A row breaks the line rules of the module docstring (ids may repeat).

    """
    problems = _Problems()
    out = []
    for i, row in enumerate(rows):
        record, wrong = record_of(row)
        if record is None:
            problems.add(f"{source}[{i}]", wrong)
        else:
            out.append(record)
    problems.raise_if_any(source)
    return out


def record_of(row: Any) -> tuple[dict[str, Any] | None, str]:
    """An index record from a parsed JSONL line, or None and what is wrong with it."""
    if not isinstance(row, dict):
        return None, f"{_kind(row)}, expected an object with 'id' and 'text'"
    wrong = []
    pid = row.get("id")
    if pid is None or (isinstance(pid, str) and not pid.strip()):
        wrong.append("missing 'id'")
    elif isinstance(pid, bool) or not isinstance(pid, str | int):
        wrong.append(f"'id' is {_kind(pid)}, expected a string")
    key = "text" if "text" in row else "content"
    text = row.get(key)
    if key not in row:
        wrong.append("missing 'text' (or 'content')")
    elif not isinstance(text, str):
        wrong.append(f"'{key}' is {_kind(text)}, expected a string")
    for name in _META_FIELDS:
        value = row.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, str | int)):
            wrong.append(f"'{name}' is {_kind(value)}, expected a string")
    for name in ("id", *_META_FIELDS):
        value = row.get(name)
        if isinstance(value, str) and len(value) > MAX_FIELD_CHARS:
            wrong.append(f"'{name}' has {len(value):,} characters (limit {MAX_FIELD_CHARS:,})")
    if wrong:
        return None, ", ".join(wrong)
    return _record(row, str(text)), ""


def _record(row: dict[str, Any], text: str) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "title": str(row.get("title") or row["id"]),
        "source": str(row.get("source") or ""),
        "url": str(row.get("url") or ""),
        "text": text,
        "section": None if row.get("section") is None else str(row["section"]),
    }


def _kind(value: Any) -> str:
    """How JSON names the type of `value` ("a list", "a number", ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object" if isinstance(value, dict) else f"a {type(value).__name__}"


def _checked(rows: Iterable[tuple[str, Any]], problems: _Problems, dedupe: bool) -> Corpus:
    """Records of the valid rows, ids unique (or deduplicated); problems noted."""
    corpus = Corpus(records=[])
    first: dict[str, str] = {}
    for where, row in rows:
        record, wrong = record_of(row)
        if record is None:
            problems.add(where, wrong)
            continue
        pid = record["id"]
        if pid not in first:
            first[pid] = where
            corpus.records.append(record)
        elif dedupe:
            corpus.dropped_ids.append(pid)
            corpus.dropped.append(f"{where}: duplicate id {_short(pid)} (kept {first[pid]})")
        else:
            problems.duplicates = True
            problems.add(where, f"duplicate id {_short(pid)} (first at {first[pid]})")
    return corpus


def _short(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _read_jsonl(path: Path, problems: _Problems) -> Iterator[tuple[str, Any]]:
    """`(where, parsed line)` for each non-blank line that is JSON; problems noted."""
    with path.open("rb") as lines:
        yield from _lines_of(lines, problems)


def _lines_of(lines: Iterable[bytes], problems: _Problems) -> Iterator[tuple[str, Any]]:
    """`(where, parsed line)` of each non-blank JSON line (lines end at LF); problems noted."""
    for n, raw in enumerate(lines, 1):
        row, wrong = _parse_line(raw, first=n == 1)
        if wrong:
            problems.add(f"line {n}", wrong)
        elif row is not _BLANK:
            yield f"line {n}", row


def _parse_line(raw: bytes, first: bool = False) -> tuple[Any, str]:
    """A JSONL line parsed, `_BLANK` for a blank one, or what is wrong with it."""
    try:
        text = raw.decode("utf-8-sig" if first else "utf-8").rstrip("\r\n")
    except UnicodeDecodeError as e:
        return None, f"not UTF-8 text (byte {e.start + 1:,} of the line)"
    if not text.strip():
        return _BLANK, ""
    try:
        return json.loads(text), ""
    except json.JSONDecodeError as e:
        at = "" if e.msg.endswith(" at") else " at"
        return None, f"invalid JSON ({e.msg}{at} column {e.colno:,})"
    except RecursionError:
        return None, "invalid JSON (nested too deeply)"


def _read_folder(root: Path, problems: _Problems, skipped: list[str]) -> Iterator[tuple[str, Any]]:
    """`(relative path, row)` for each `.md` / `.txt` file inside `root`; see the rules."""
    real_root = root.resolve()
    for file, target in _corpus_files(root, real_root, skipped):
        rel = str(file.relative_to(root))
        try:
            text = target.read_bytes().decode("utf-8").strip()
        except UnicodeDecodeError as e:
            problems.add(rel, f"not UTF-8 text (byte {e.start + 1:,})")
            continue
        except OSError as e:
            problems.add(rel, f"cannot be read ({e.strerror or e})")
            continue
        first = _FIRST_LINE.match(text)
        line = first.group() if first else ""
        heading = line.startswith("#")
        title = line.lstrip("# ").strip() if heading else file.stem
        body = unwrap_lines(text[len(line) :].strip() if heading else text)
        yield rel, {"id": rel, "title": title, "source": root.name, "url": "", "text": body}


_LINE_BREAK = re.compile(r"\r\n|[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_BLOCK_START = re.compile(r"\s*(?:[-*+\u2022]\s|\d{1,9}[.)]\s|#|>|\||```|~~~)|(?: {4}|\t)")
_FENCE = re.compile(r"\s*(?:```|~~~)")


def unwrap_lines(text: str) -> str:
    """`text` with each line break inside a paragraph replaced by a space, in linear time.

    A line is joined to the one before unless either is blank, the line starts a block of its
    own (a list item `-`, `*`, `+`, `•` or `1.`, a heading `#`, a quote `>`, a table row `|`,
    a code fence, or 4 spaces or a tab of indentation), the line before is a heading or a code
    fence, or both lie in a fenced code block. Text without line breaks is returned as is.
    """
    if not _LINE_BREAK.search(text):
        return text
    lines: list[list[str]] = []  # each output line as its joined parts
    in_code = False
    open_line = False  # whether the last output line may take the next line
    for line in _LINE_BREAK.split(text):
        fence = _FENCE.match(line) is not None
        blank = not line.strip()
        if open_line and not (in_code or fence or blank or _BLOCK_START.match(line)):
            lines[-1].append(line.strip())
            continue
        lines.append([line.rstrip() if not in_code else line])
        if fence:
            in_code = not in_code
        open_line = not (in_code or fence or blank or line.lstrip().startswith("#"))
    return "\n".join(" ".join(parts) for parts in lines)


def _corpus_files(root: Path, real_root: Path, skipped: list[str]) -> list[tuple[Path, Path]]:
    """`(path in the folder, file to read)` of the corpus files, sorted by path."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        for name in dirnames:
            if (here / name).is_symlink():
                skipped.append(f"{(here / name).relative_to(root)}: directory symlink")
        for name in filenames:
            path = here / name
            if path.suffix.lower() not in FOLDER_SUFFIXES:
                continue
            target, why = _readable(path, real_root)
            if target is None:
                skipped.append(f"{path.relative_to(root)}: {why}")
            else:
                found.append((path, target))
    return sorted(found)


def _readable(path: Path, real_root: Path) -> tuple[Path | None, str]:
    """The file to read for `path`, or None and why it is not read."""
    if not path.is_symlink():
        return (path, "") if path.is_file() else (None, "not a regular file")
    target = path.resolve()
    if not target.is_relative_to(real_root):
        return None, f"symlink to {target}, outside the corpus folder"
    if not target.is_file():
        return None, "symlink to something that is not a regular file"
    return target, ""


# ---------------------------------------------------------------------------------- splitting


def split_passages(
    records: Sequence[dict[str, Any]], limit: int = MAX_PASSAGE_CHARS
) -> tuple[list[dict[str, Any]], int]:
    """Records with each passage over `limit` characters split into parts (module docstring).

    Returns:
        `(records, how many passages were split)`.

    """
    out: list[dict[str, Any]] = []
    split = 0
    for record in records:
        if len(record["text"]) <= limit:
            out.append(record)
            continue
        split += 1
        for i, part in enumerate(split_text(record["text"], limit), 1):
            pid = record["id"] if i == 1 else f"{record['id']}#{i}"
            out.append({**record, "id": pid, "text": part})
    return out, split


def split_text(text: str, limit: int = MAX_PASSAGE_CHARS) -> list[str]:
    """`text` cut into parts of at most `limit` characters, in linear time.

    Each cut falls at the last paragraph break in the second half of the part's window, else
    at its last sentence end, else at its last whitespace, else at the limit (a text with no
    space). Parts are stripped; none is empty unless `text` is blank.
    """
    parts = []
    start, end = 0, len(text)
    while end - start > limit:
        cut = _cut(text, start, limit)
        part = text[start:cut].strip()
        if part:
            parts.append(part)
        start = cut
    rest = text[start:].strip()
    if rest or not parts:
        parts.append(rest)
    return parts


def _cut(text: str, start: int, limit: int) -> int:
    """Where the part starting at `start` ends: a boundary in the second half of its window.

    A paragraph break or a space ends the part where it starts, a sentence end (`.`, `!` or
    `?`, maybe closing quotes or brackets, then whitespace) where its punctuation ends; the
    search reaches one character past the window to see that whitespace.
    """
    low, high = start + limit // 2, start + limit
    for boundary in (_PARAGRAPH_BREAK, _SENTENCE_END, _SPACE):
        last = deque(boundary.finditer(text, low, high + 1), maxlen=1)
        if last:
            cut = last[0].end() if boundary is _SENTENCE_END else last[0].start()
            if cut > start:
                return cut
    return high


# ---------------------------------------------------------------------------------- bundled


def bundled_records(resource: Traversable) -> list[dict[str, Any]]:
    """The passages of a bundled JSONL corpus (a profile's knowledge base), checked.

    Raises:
        CorpusError: It breaks the rules of the module docstring.

    """
    problems = _Problems()
    rows = _lines_of(io.BytesIO(resource.read_bytes()), problems)
    corpus = _checked(rows, problems, dedupe=False)
    problems.raise_if_any(resource.name)
    return corpus.records


def demo_records() -> list[dict[str, Any]]:
    """The passages of the default profile's knowledge base (`profiles.default_profile`).

    Raises:
        ValueError: The default profile bundles no knowledge base.

    """
    profile = default_profile()
    if profile.knowledge_base is None:
        raise ValueError(f"profile {profile.name!r} bundles no knowledge base")
    return bundled_records(profile.knowledge_base)

"""Generation: the grounded prompt, an offline extractive chat model, and model resolution.

`build_messages()` lays out the prompt every chat model gets: numbered sources, tool results,
recalled memories, the conversation's topic and the question. `ExtractiveChatModel` answers
that prompt without any network access by quoting the source sentences most relevant to the
question, each followed by its `[n]` marker, so the whole pipeline (streaming, citations,
quality, cost) runs offline and deterministically. A chat question that does not say what it is
about ("How is it treated?") is read in the conversation's context: the topic retrieval
resolved, the earlier questions, or a recalled memory (see `extractive_answer`).

Sizes are capped (`MAX_SOURCE_CHARS` a passage, `MAX_TITLE_CHARS` a title) so that a huge
passage costs no model, and no step after it, more than a normal one.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
)
from langchain_core.messages.ai import UsageMetadata
from langchain_core.messages.utils import count_tokens_approximately
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field, InstanceOf
from rapidfuzz import fuzz

from parallel_tiers.services.content import vacuous_reason
from parallel_tiers.services.conversation import TOPIC_LOOKBACK, refers_back
from parallel_tiers.services.questions import (
    INFORMATION,
    QuestionTypes,
    default_questions,
    names_title,
)
from parallel_tiers.services.text import (
    bm25_idf,
    clip,
    markers,
    off_loop,
    split_sentences,
    tokenize,
    without_markers,
)

LOCAL_MODEL = "local:extractive"
"""The model spec of the offline `ExtractiveChatModel`."""

GROUNDING_INSTRUCTION = (
    "Answer only from the numbered sources below. Cite every statement with the number of its "
    "source in square brackets, like [1]. If the sources do not contain the answer, say so."
)
"""Appended to the expert's system prompt."""

NOT_FOUND = "I could not find this in the available sources."
"""The extractive model's answer when no source sentence shares a word with the question."""

MAX_TOOL_OUTPUT_CHARS = 300
"""Tool outputs longer than this are shortened in the prompt."""

MAX_MEMORY_CHARS = 500
"""Characters of a remembered question, and of its answer, that the prompt's memory block
carries (cut at a word)."""

MEMORY_HEADER = "Memory (earlier conversations with this user; context, not sources):"
"""First line of the prompt's memory block."""

MEMORY_INSTRUCTION = (
    "The memory block recalls earlier conversations with this user: use it to understand who "
    "and what the question is about, but cite only the numbered sources."
)
"""Appended to the system message when the prompt shows memories."""

TOPIC_HEADER = "Conversation topic:"
"""Starts the prompt's line naming what the conversation is about."""

MAX_SOURCE_CHARS = 32_000
"""Characters of a passage's content the prompt carries (`source_content`), so any chat model,
the offline one included, reads at most this much of each passage. A longer passage is cut at
its last sentence end before the limit (`text.clip`); citations and quality check the same
prefix (`citations.passage_text`), and `quality_metrics["passages_truncated"]` lists the cited
ones that were cut. MedQuAD passages are 850 characters at the median and 27,000 at most, so
none is cut."""

MAX_TITLE_CHARS = 500
"""Characters of a passage's title, and of its source, the prompt carries (cut at a word)."""

MAX_QUESTION_CHARS = 8_000
"""Characters of the question the offline model reads (the validated limit of a query, for
prompts that did not come through the graph)."""

INLINE_MAX_PROMPT_CHARS = 4_000
"""Largest prompt (characters of its messages) the offline model answers on the event loop;
a larger one is answered in the services' CPU worker thread (`text.off_loop`) so the loop
keeps serving other runs meanwhile. Measured on MedQuAD prompts (five passages, median 6,100
characters): answering takes 1-2 ms when the passages were split before and 5-15 ms when not
(sentence splitting, cached by passage); up to 4,000 characters it stays under about 5 ms
even then. The thread hop adds about 0.05 ms, a few percent of the cheapest answer it is used
for."""

STREAM_YIELD_EVERY = 64
"""The offline model's `_astream` lets the event loop run other tasks after every this many
chunks (words) of a long answer."""


# --------------------------------------------------------------------------------------------
# The prompt
# --------------------------------------------------------------------------------------------


def build_messages(
    query: str,
    documents: Sequence[Mapping[str, Any]],
    *,
    system_prompt: str,
    tool_results: Sequence[Mapping[str, Any]] = (),
    history: Sequence[BaseMessage] = (),
    topic: str | None = None,
    memory: Sequence[Mapping[str, Any]] = (),
) -> list[BaseMessage]:
    """Build the grounded prompt for any chat model.

    Memories are context, never sources: they go in a block of their own in the human message
    (`MEMORY_HEADER`, then one line per item, `- (n) User: <question> | Assistant: <answer>`,
    the answer without its `[n]` markers, which pointed at that turn's sources, and each part
    cut to `MAX_MEMORY_CHARS`), and the system message gains `MEMORY_INSTRUCTION`: use them to
    understand the question, cite only the numbered sources. The offline model answers from a
    memory the same way (see `extractive_answer`) and says which it used.

    Args:
        query: The question.
        documents: Retrieved passages (`title`, `source`, `content`); `[n]` cites `documents[n-1]`.
        system_prompt: The expert's system prompt.
        tool_results: Executed tools (`name`, `args`, `output`, `error`).
        history: Earlier conversation messages, placed between the system and the new message.
        topic: What the conversation is about when the question does not name it (the topic
            retrieval resolved from earlier questions): a `Conversation topic:` line before
            the question.
        memory: Recalled memories of the user (`query`, `response`), most relevant first.

    Returns:
        A system message, the history, and one human message with the sources, the tool
        results, the memories and the topic (each when any) and the question.

    """
    instructions = [system_prompt.strip(), GROUNDING_INSTRUCTION]
    if memory:
        instructions.append(MEMORY_INSTRUCTION)
    system = SystemMessage(content="\n\n".join(i for i in instructions if i))
    text = render_prompt(query, documents, tool_results, topic=topic, memory=memory)
    return [system, *history, HumanMessage(content=text)]


def render_prompt(
    query: str,
    documents: Sequence[Mapping[str, Any]],
    tool_results: Sequence[Mapping[str, Any]] = (),
    *,
    topic: str | None = None,
    memory: Sequence[Mapping[str, Any]] = (),
) -> str:
    """Render the human message of `build_messages()`: sources, tools, memory, topic, question."""
    blocks = []
    if documents:
        blocks.append(
            "Sources:\n" + "\n\n".join(_render_source(i, d) for i, d in enumerate(documents, 1))
        )
    else:
        blocks.append("Sources:\n(none)")
    if tool_results:
        blocks.append("Tool results:\n" + "\n".join(_render_tool(r) for r in tool_results))
    if memory:
        lines = (_render_memory(i, m) for i, m in enumerate(memory, 1))
        blocks.append(MEMORY_HEADER + "\n" + "\n".join(lines))
    if topic and _one_line(topic, MAX_TITLE_CHARS):
        blocks.append(f"{TOPIC_HEADER} {_one_line(topic, MAX_TITLE_CHARS)}")
    blocks.append(f"Question: {query.strip()}")
    return "\n\n".join(blocks)


def _one_line(value: Any, limit: int | None = None) -> str:
    text = str(value if value is not None else "")
    if limit is not None:
        text = clip(text, limit)
    return re.sub(r"\s+", " ", text).strip()


def source_content(doc: Mapping[str, Any]) -> str:
    """The content of a passage as the prompt carries it: at most `MAX_SOURCE_CHARS` characters."""
    return clip(str(doc.get("content") or "").strip(), MAX_SOURCE_CHARS)


def _render_source(n: int, doc: Mapping[str, Any]) -> str:
    title = _one_line(doc.get("title"), MAX_TITLE_CHARS) or f"Source {n}"
    source = _one_line(doc.get("source"), MAX_TITLE_CHARS)
    header = f"[{n}] {title} ({source})" if source else f"[{n}] {title}"
    return f"{header}\n{source_content(doc)}"


def _render_memory(n: int, item: Mapping[str, Any]) -> str:
    question = _one_line(item.get("query"), MAX_MEMORY_CHARS)
    answer = _one_line(without_markers(str(item.get("response") or "")), MAX_MEMORY_CHARS)
    return f"- ({n}) User: {question}" + (f" | Assistant: {answer}" if answer else "")


def _render_tool(result: Mapping[str, Any]) -> str:
    name = _one_line(result.get("name")) or "tool"
    args = result.get("args")
    if isinstance(args, Mapping):
        shown = ", ".join(
            f"{k}={json.dumps(v, ensure_ascii=False, default=str)}" for k, v in args.items()
        )
    else:
        shown = _one_line(args)
    if result.get("error") or result.get("status") == "error":
        outcome = f"error: {_one_line(result.get('error')) or 'failed'}"
    else:
        outcome = _one_line(result.get("output"))
    if len(outcome) > MAX_TOOL_OUTPUT_CHARS:
        outcome = outcome[: MAX_TOOL_OUTPUT_CHARS - 1].rstrip() + "…"
    return f"- {name}({shown}): {outcome}"


# --------------------------------------------------------------------------------------------
# Parsing the prompt back (what the extractive model reads)
# --------------------------------------------------------------------------------------------

_SOURCE_HEADER = re.compile(r"^\[(\d+)\] (.*)$", re.MULTILINE)
_HEADER_SOURCE = re.compile(r"^(.*) \(([^()]*)\)$")
_TOOL_LINE = re.compile(r"^- ([^(\n]+)\((.*)\): (.*)$")
_FAILED_TOOL_LINE = re.compile(r"^- ([^(\n]+)\((.*?)\): (error: .*)$")
_MEMORY_LINE = re.compile(r"^- \((\d+)\) User: (.*?)(?: \| Assistant: (.*))?$")
_TOPIC_LINE = re.compile(rf"(?:^|\n){re.escape(TOPIC_HEADER)} ([^\n]*)$")


@dataclass(frozen=True)
class MemoryNote:
    """One recalled memory of a prompt's memory block."""

    number: int
    """Its place in the block, from 1."""
    question: str
    answer: str = ""


@dataclass
class ParsedPrompt:
    """The parts of a `render_prompt()` text."""

    question: str
    sources: list[dict[str, str]] = field(default_factory=list)
    tools: list[tuple[str, str]] = field(default_factory=list)
    """(name, outcome) pairs; an outcome that starts with `error:` is a failure."""
    memory: list[MemoryNote] = field(default_factory=list)
    topic: str | None = None
    """The `Conversation topic:` line's text."""


def parse_prompt(text: str) -> ParsedPrompt:
    """Read a human message laid out by `render_prompt()`.

    Text that does not follow the layout is taken as a bare question without sources.
    """
    cut = text.rfind("Question:")
    if cut < 0 or (cut > 0 and text[cut - 1] != "\n"):
        return ParsedPrompt(question=text.strip())
    parsed = ParsedPrompt(question=text[cut + len("Question:") :].strip())
    body = text[:cut].rstrip()
    topic = _TOPIC_LINE.search(body)
    if topic:
        parsed.topic = topic.group(1).strip() or None
        body = body[: topic.start()].rstrip()
    body = _parse_memory(body, parsed)
    tools_at = body.rfind("Tool results:\n")
    if tools_at >= 0 and (tools_at == 0 or body[tools_at - 1] == "\n"):
        for line in body[tools_at:].splitlines()[1:]:
            # a failure first: its message may hold "): " too ("round(): the number of ...")
            match = _FAILED_TOOL_LINE.match(line.strip()) or _TOOL_LINE.match(line.strip())
            if match:
                parsed.tools.append((match.group(1).strip(), match.group(3).strip()))
        body = body[:tools_at].rstrip()
    if body.startswith("Sources:"):
        parsed.sources = _parse_sources(body[len("Sources:") :])
    return parsed


def _parse_memory(body: str, parsed: ParsedPrompt) -> str:
    """Read the memory block at the end of `body` into `parsed`; return the body before it.

    The block is taken only when every line after its header is a memory line, so a passage
    that happens to hold the header is left alone.
    """
    at = body.rfind(MEMORY_HEADER + "\n")
    if at < 0 or (at > 0 and body[at - 1] != "\n"):
        return body
    matches = [_MEMORY_LINE.match(line) for line in body[at:].splitlines()[1:]]
    if not matches or not all(matches):
        return body
    parsed.memory = [
        MemoryNote(int(m.group(1)), m.group(2).strip(), (m.group(3) or "").strip())
        for m in matches
        if m is not None
    ]
    return body[:at].rstrip()


def _parse_sources(block: str) -> list[dict[str, str]]:
    # Headers must number 1, 2, 3, ... so a "[n] ..." line inside a passage is not a header.
    headers: list[re.Match[str]] = []
    for match in _SOURCE_HEADER.finditer(block):
        if int(match.group(1)) == len(headers) + 1:
            headers.append(match)
    sources = []
    for i, match in enumerate(headers):
        end = headers[i + 1].start() if i + 1 < len(headers) else len(block)
        head = match.group(2).strip()
        split = _HEADER_SOURCE.match(head)
        title, source = (split.group(1), split.group(2)) if split else (head, "")
        sources.append(
            {"title": title, "source": source, "content": block[match.end() : end].strip()}
        )
    return sources


# --------------------------------------------------------------------------------------------
# Extractive answering
# --------------------------------------------------------------------------------------------

BM25_K1 = 1.2
BM25_B = 0.75
DOC_RELEVANCE_WEIGHT = 0.25
"""Bonus for sentences of a passage that covers the question's words (idf-weighted share)."""
RANK_WEIGHT = 0.1
"""Bonus for sentences of higher-ranked passages (1 for the first, falling linearly)."""
TITLE_WEIGHT = 0.15
"""Bonus for sentences of the passage whose title best matches the question."""
TYPE_WEIGHT = 0.3
"""Bonus for sentences that speak to the kind of answer asked for
(`QuestionTypes.addresses`): a sentence about treating, for a treatment question."""
RELATIVE_CUTOFF = 0.45
"""Sentences scoring below this share of the best sentence's score are left out."""
DUPLICATE_RATIO = 85
"""`fuzz.token_sort_ratio` from which two sentences count as near-duplicates."""
MIN_SENTENCE_WORDS = 3


@dataclass
class _Candidate:
    doc: int
    position: int
    text: str
    terms: Counter[str]
    score: float = 0.0


def extractive_answer(
    parsed: ParsedPrompt,
    max_sentences: int = 4,
    history: Sequence[str] = (),
    questions: QuestionTypes | None = None,
) -> str:
    """Compose an answer to a parsed prompt from its most relevant source sentences.

    Sentences are ranked by BM25 over the question's stemmed content words (each sentence a
    document, question boilerplate left out), normalised by the best one, plus bonuses for the
    passage's coverage of the question, its rank, its title matching the question, and the
    sentence speaking to the type of answer asked for (`TYPE_WEIGHT`; the types, their cues and
    the words that say nothing are those of `questions`, by default the default profile's; with
    none, no sentence gets the bonus). Only passages holding as many of the focus's words as
    any passage does take part (a passage on Gardner-Diamond syndrome holds one word of
    "Sneddon syndrome", one on it both). Eligible are their
    sentences sharing a content word with the question and those of passages whose title
    shares a word with the question's focus, questions excepted (a passage's "What are the
    signs of X?" restates the question); near-duplicates are skipped. The chosen
    sentences are grouped by passage (in the sources' order, the retriever's ranking) in
    passage order, each quoted verbatim (minus the passage's own footnote markers) with its
    `[n]` marker before its final punctuation. Tool results come first. A question with
    neither content words nor a type cue ("Thanks!") is answered `NOT_FOUND`.

    The question's focus is its own when its focus words name a source's title
    (`questions.names_title`). When they do not, and the question leans on a conversation (it
    has no focus words of its own, refers back with a pronoun, or the prompt names the
    conversation's topic), its focus is the first of these that names a source's title: the
    prompt's `Conversation topic:`, the earlier questions of `history` (newest first, the last
    `TOPIC_LOOKBACK`), the questions of the prompt's memories (most relevant first; a memory
    also when the question shares a word with it, "my mother"). Its words then join the
    question's, so "How is it treated?" in a conversation about asthma is answered as "How is
    asthma treated?" would be; `extractive_reply` says which memory was used.

    The work is linear in the prompt and bounded: a prompt not laid out by `build_messages()`
    is read up to the same caps (`MAX_QUESTION_CHARS`, `MAX_SOURCE_CHARS`, `MAX_TITLE_CHARS`).
    """
    return extractive_reply(parsed, max_sentences, history, questions)[0]


def extractive_reply(
    parsed: ParsedPrompt,
    max_sentences: int = 4,
    history: Sequence[str] = (),
    questions: QuestionTypes | None = None,
) -> tuple[str, list[int]]:
    """`extractive_answer`, and the numbers of the prompt's memories the answer drew on."""
    qt = default_questions() if questions is None else questions
    parsed = _within_caps(parsed)
    parts = [_tool_sentence(name, outcome) for name, outcome in parsed.tools]
    chosen, used = _select(parsed, max_sentences, history, qt)
    if not chosen:
        return " ".join([*parts, NOT_FOUND]), []
    # The sources come in the retriever's order, its best judgement of relevance: keep it.
    chosen.sort(key=lambda c: (c.doc, c.position))
    parts.extend(_with_marker(c.text, c.doc + 1) for c in chosen)
    return " ".join(parts), used


def _within_caps(parsed: ParsedPrompt) -> ParsedPrompt:
    """`parsed` with its question and sources cut to the caps (the same object when within)."""
    question = clip(parsed.question, MAX_QUESTION_CHARS)
    sources = [
        {
            **src,
            "title": clip(src["title"], MAX_TITLE_CHARS),
            "content": clip(src["content"], MAX_SOURCE_CHARS),
        }
        for src in parsed.sources
    ]
    if question is parsed.question and sources == parsed.sources:
        return parsed
    return ParsedPrompt(
        question=question,
        sources=sources,
        tools=parsed.tools,
        memory=parsed.memory,
        topic=parsed.topic,
    )


@dataclass
class _Focus:
    """What a question is about, for the extractive model."""

    terms: set[str]
    """Stemmed focus words."""
    borrowed: bool = False
    """Whether they come from the question's context rather than the question."""
    memory: list[int] = field(default_factory=list)
    """The numbers of the prompt's memories they come from."""


def _question_focus(
    parsed: ParsedPrompt, default: Sequence[str], history: Sequence[str], qt: QuestionTypes
) -> _Focus:
    """The question's focus (see `extractive_answer`).

    `default` is the question's own analysis (`QuestionAnalysis.focus_terms`), kept when the
    question names a source or nothing in its context does. A borrowed focus is the
    candidate's words shared with the titles it names ("type 2 diabetes" of "my mother has
    type 2 diabetes").
    """
    titles = [qt.title_topic(src["title"]) for src in parsed.sources]
    own = tokenize(" ".join(qt.focus_words(parsed.question)))
    if any(names_title(own, title) for title in titles):
        return _Focus(set(default))
    for terms, note in _contexts(parsed, own, history, qt):
        named = [set(title) for title in titles if names_title(terms, title)]
        if named:
            return _Focus(set(terms) & set().union(*named), True, [note] if note else [])
    return _Focus(set(default))


def _contexts(
    parsed: ParsedPrompt, own: Sequence[str], history: Sequence[str], qt: QuestionTypes
) -> Iterator[tuple[list[str], int]]:
    """Candidate topics of a question that names no source, best first.

    Each with the number of the memory it comes from (0: none). A question that names
    something of its own the sources lack ("What causes gout?" over passages on asthma) borrows
    no topic from earlier questions unless it refers back or retrieval resolved a topic for
    it, and none from a memory unless it also shares a word with that memory's question ("my
    mother").
    """
    leans = not own or refers_back(parsed.question)
    if parsed.topic:
        yield tokenize(parsed.topic), 0
    if leans or parsed.topic:
        for question in reversed(history[-TOPIC_LOOKBACK:] if TOPIC_LOOKBACK > 0 else []):
            yield tokenize(" ".join(qt.focus_words(question))), 0
    for note in parsed.memory:
        terms = tokenize(" ".join(qt.focus_words(note.question)))
        if leans or set(own) & set(terms):
            yield terms, note.number


def _select(
    parsed: ParsedPrompt, max_sentences: int, history: Sequence[str], qt: QuestionTypes
) -> tuple[list[_Candidate], list[int]]:
    analysis = qt.analyse_question(parsed.question)
    # A question asks something when it has content words or a type cue ("How common is
    # it?"); "Thanks!" does not, and gets no quotes even in a conversation.
    asks = bool(analysis.terms) or qt.speaks_to(parsed.question, analysis.types)
    if not asks or not parsed.sources or max_sentences < 1:
        return [], []
    about = _question_focus(parsed, analysis.focus_terms, history, qt)
    focus = about.terms
    query = set(analysis.terms) | (focus if about.borrowed else set())
    if not query:
        return [], []
    # When some passage names the question's focus, passages that name less of it are off
    # topic: "warning signs of a stroke" borrows nothing from a passage on the signs of
    # cancer, "Sneddon syndrome" nothing from one on Gardner-Diamond syndrome.
    vocabularies = [_vocabulary(src) for src in parsed.sources]
    names_focus = _covering_most(focus, vocabularies)
    said = query | qt.empty_words
    candidates = [
        c
        for d, src in enumerate(parsed.sources)
        if names_focus[d] or not any(names_focus)
        for p, s in enumerate(_passage_sentences(src["content"]))
        # a question in a passage ("What are the signs of X?") restates, it does not answer
        if len(s.split()) >= MIN_SENTENCE_WORDS and not s.rstrip().endswith("?")
        for c in (_Candidate(d, p, s, Counter(tokenize(s))),)
        # nor does a list introduction without its items, or a sentence of the question's words
        if vacuous_reason(s, said, c.terms) is None
    ]
    if not candidates:
        return [], []
    n = len(candidates)
    df = Counter(t for c in candidates for t in set(c.terms) if t in query)
    idf = {t: bm25_idf(n, df[t]) for t in query}
    avg_len = sum(sum(c.terms.values()) for c in candidates) / n or 1.0
    raw = [_bm25(c.terms, query, idf, avg_len) for c in candidates]
    top_raw = max(raw)
    # A passage whose title names the question's topic is on topic even where its sentences
    # do not repeat the question's words ("NMO" for "neuromyelitis optica").
    on_topic = [bool(focus & set(tokenize(src["title"]))) for src in parsed.sources]
    asked = [t for t in analysis.types if t != INFORMATION]
    own = qt.focus_words(parsed.question)
    doc_bonus = _doc_bonuses(parsed.sources, vocabularies, query, idf)
    for c, r in zip(candidates, raw, strict=True):
        if r > 0 or on_topic[c.doc]:
            c.score = (r / top_raw if top_raw > 0 else 0.0) + doc_bonus[c.doc]
            # the asked type counts in passages on the topic (in all when none is)
            typed = on_topic[c.doc] or not any(on_topic)
            if typed and any(qt.addresses(c.text, t, own) for t in asked):
                c.score += TYPE_WEIGHT
    if not any(c.score > 0 for c in candidates):
        return [], []
    ranked = sorted(
        (c for c in candidates if c.score > 0), key=lambda c: (-c.score, c.doc, c.position)
    )
    cutoff = ranked[0].score * RELATIVE_CUTOFF
    chosen: list[_Candidate] = []
    for c in ranked:
        if len(chosen) >= max_sentences or c.score < cutoff:
            break
        if any(fuzz.token_sort_ratio(c.text, o.text) >= DUPLICATE_RATIO for o in chosen):
            continue
        chosen.append(c)
    return chosen, about.memory


def _covering_most(focus: set[str], vocabularies: Sequence[set[str]]) -> list[bool]:
    """For each source, whether it holds as many of the `focus` words as any source does."""
    held = [len(focus & vocab) for vocab in vocabularies]
    most = max(held, default=0)
    return [most > 0 and n == most for n in held]


@lru_cache(maxsize=1024)
def _passage_sentences(content: str) -> tuple[str, ...]:
    # pysbd takes about 1 ms a passage, and the same passages come back across questions.
    # A passage's own footnote markers ("[12]") are dropped so they cannot pass for citations,
    # and list bullets ("- item") are dropped so each quote starts a sentence of its own.
    sentences = (without_markers(s) if markers(s) else s for s in split_sentences(content))
    return tuple(text for text in (_BULLET.sub("", s) for s in sentences) if text)


def _bm25(terms: Counter[str], query: set[str], idf: Mapping[str, float], avg_len: float) -> float:
    length = sum(terms.values())
    score = 0.0
    for t in query:
        tf = terms.get(t, 0)
        if tf:
            norm = BM25_K1 * (1 - BM25_B + BM25_B * length / avg_len)
            score += idf[t] * tf * (BM25_K1 + 1) / (tf + norm)
    return score


def _vocabulary(source: Mapping[str, str]) -> set[str]:
    """The stemmed content words of a source's title and text."""
    return set(tokenize(f"{source['title']} {source['content']}"))


def _doc_bonuses(
    sources: Sequence[Mapping[str, str]],
    vocabularies: Sequence[set[str]],
    query: set[str],
    idf: Mapping[str, float],
) -> list[float]:
    total = sum(idf.values()) or 1.0
    count = len(sources)
    title_hits = [len(query & set(tokenize(s["title"]))) for s in sources]
    best_title = max(range(count), key=lambda i: (title_hits[i], -i))
    bonuses = []
    for i, vocab in enumerate(vocabularies):
        coverage = sum(idf[t] for t in query & vocab) / total
        bonus = DOC_RELEVANCE_WEIGHT * coverage + RANK_WEIGHT * (1 - i / count)
        if i == best_title and title_hits[i]:
            bonus += TITLE_WEIGHT
        bonuses.append(bonus)
    return bonuses


_BULLET = re.compile(r"^(?:[-*\u2022]\s+)+")
_FINAL_PUNCT = re.compile(r"([.!?]+[\"')\]\u201d\u2019]*)$")


def _with_marker(sentence: str, n: int) -> str:
    """`sentence` with ` [n]` before its final punctuation (or ` [n].` when it has none)."""
    sentence = sentence.strip()
    match = _FINAL_PUNCT.search(sentence)
    if match:
        return f"{sentence[: match.start()].rstrip()} [{n}]{match.group(1)}"
    return f"{sentence} [{n}]."


def _tool_sentence(name: str, outcome: str) -> str:
    if outcome.lower().startswith("error:"):
        text = f"{name} failed: {outcome[len('error:') :].strip() or 'unknown error'}"
    else:
        text = f"{name} returned {outcome or 'nothing'}"
    return text if text.endswith((".", "!", "?", "…")) else f"{text}."


class ExtractiveChatModel(BaseChatModel):
    """An offline, deterministic chat model that answers by quoting the prompt's sources.

    It reads the last human message as laid out by `build_messages()` and answers with the
    `max_sentences` source sentences most relevant to the question (see `extractive_answer()`),
    or with an honest "I could not find this in the available sources." The human messages
    before it are the conversation's earlier questions, which a follow-up is read against. It
    streams word by word and reports approximate token usage, and in `response_metadata`,
    `memory_used`: the numbers of the prompt's memories the answer drew on. It reads questions
    and passages with `questions`, its profile's question types (default: the default
    profile's; `services.wiring.build_services` gives it the run's). Asynchronously, a
    prompt larger than `INLINE_MAX_PROMPT_CHARS` is answered off the event loop
    (`text.off_loop`), and a long answer's stream lets other tasks run every
    `STREAM_YIELD_EVERY` words.
    """

    model_name: str = LOCAL_MODEL
    max_sentences: int = 4
    questions: InstanceOf[QuestionTypes] = Field(default_factory=default_questions)
    """The question types it reads questions and passages with (`questions.QuestionTypes`)."""

    @property
    def _llm_type(self) -> str:
        return "extractive"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "max_sentences": self.max_sentences}

    def answer(self, messages: Sequence[BaseMessage], stop: Sequence[str] | None = None) -> str:
        """Answer `messages` (the text, cut before the first `stop` string if any)."""
        return self.reply(messages, stop)[0]

    def reply(
        self, messages: Sequence[BaseMessage], stop: Sequence[str] | None = None
    ) -> tuple[str, list[int]]:
        """`answer`, and the numbers of the prompt's memories it drew on."""
        asked = [m for m in messages if isinstance(m, HumanMessage)]
        text = asked[-1].text if asked else ""
        history = [parse_prompt(m.text).question for m in asked[-1 - TOPIC_LOOKBACK : -1]]
        answer, used = extractive_reply(
            parse_prompt(text), self.max_sentences, history, self.questions
        )
        for token in stop or ():
            if token and token in answer:
                answer = answer[: answer.index(token)]
        return answer, used

    def _usage(self, messages: Sequence[BaseMessage], answer: str) -> UsageMetadata:
        input_tokens = count_tokens_approximately(messages)
        output_tokens = count_tokens_approximately([AIMessage(content=answer)])
        return UsageMetadata(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            total_tokens=input_tokens + output_tokens,
        )

    def _answered(
        self, messages: Sequence[BaseMessage], stop: Sequence[str] | None
    ) -> tuple[str, UsageMetadata, dict[str, Any]]:
        answer, used = self.reply(messages, stop)
        meta = {"model_name": self.model_name, "memory_used": used}
        return answer, self._usage(messages, answer), meta

    async def _aanswered(
        self, messages: Sequence[BaseMessage], stop: Sequence[str] | None
    ) -> tuple[str, UsageMetadata, dict[str, Any]]:
        """`_answered`, in a worker thread when the prompt is large (`INLINE_MAX_PROMPT_CHARS`)."""
        if _prompt_chars(messages) <= INLINE_MAX_PROMPT_CHARS:
            return self._answered(messages, stop)
        return await off_loop(self._answered, messages, stop)

    def _result(self, answer: str, usage: UsageMetadata, meta: dict[str, Any]) -> ChatResult:
        message = AIMessage(content=answer, usage_metadata=usage, response_metadata=meta)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _chunks(
        self, answer: str, usage: UsageMetadata, meta: dict[str, Any]
    ) -> Iterator[ChatGenerationChunk]:
        pieces = re.findall(r"\S+\s*", answer) or [answer]
        for piece in pieces[:-1]:
            yield ChatGenerationChunk(message=AIMessageChunk(content=piece))
        # Usage and metadata ride on the last chunk only, so summing the chunks counts them once.
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content=pieces[-1],
                usage_metadata=usage,
                response_metadata=meta,
                chunk_position="last",
            )
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return self._result(*self._answered(messages, stop))

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return self._result(*await self._aanswered(messages, stop))

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        # The base class reports each chunk to the callbacks (on_llm_new_token) itself.
        yield from self._chunks(*self._answered(messages, stop))

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for i, chunk in enumerate(self._chunks(*await self._aanswered(messages, stop)), 1):
            yield chunk
            if i % STREAM_YIELD_EVERY == 0:
                await asyncio.sleep(0)  # a long answer's chunks let other tasks run between them


def _prompt_chars(messages: Sequence[BaseMessage]) -> int:
    return sum(
        len(m.content) if isinstance(m.content, str) else len(str(m.content)) for m in messages
    )


# --------------------------------------------------------------------------------------------
# Model resolution
# --------------------------------------------------------------------------------------------


def resolve_model(
    model: BaseChatModel | str | None, questions: QuestionTypes | None = None
) -> BaseChatModel:
    """Return the chat model for a spec.

    Args:
        model: None or `"local:extractive"` for the offline model, a chat model (returned as
            is), or a provider string such as `"openai:gpt-4o-mini"` for
            `langchain.chat_models.init_chat_model` (needs the `models` extra).
        questions: The question types of the offline model (default: the default
            profile's); other models do not use them.

    Returns:
        The chat model; the same instance for the same string spec (and question types).

    Raises:
        ValueError: A provider string while `langchain` is not installed.

    """
    if isinstance(model, BaseChatModel):
        return model
    spec = (model or LOCAL_MODEL).strip()
    if spec == LOCAL_MODEL:
        return _local_model(default_questions() if questions is None else questions)
    return _provider_model(spec)


@lru_cache(maxsize=8)
def _local_model(questions: QuestionTypes) -> ExtractiveChatModel:
    return ExtractiveChatModel(questions=questions)


@lru_cache(maxsize=32)
def _provider_model(spec: str) -> BaseChatModel:
    try:
        from langchain.chat_models import init_chat_model
    except ImportError as exc:
        provider = spec.split(":", 1)[0] if ":" in spec else "<provider>"
        raise ValueError(
            f'model {spec!r} needs LangChain: pip install "langgraph-parallel-tiers[models]" '
            f"langchain-{provider}"
        ) from exc
    return init_chat_model(spec)


def model_name_of(model: BaseChatModel) -> str:
    """Name `model` for cost tracking: its `model_name`, `model` or class name."""
    for attr in ("model_name", "model", "model_id"):
        value = getattr(model, attr, None)
        if isinstance(value, str) and value:
            return value
    return type(model).__name__

"""Conversations: what a chat question is about when it does not say.

A question may name what it is about ("What is asthma?", "What causes gout?") or lean on the
conversation ("How is it treated?", "What is the outlook?"). `resolve_topic` tells which and
gives retrieval the text to search with:

* The question's own focus words (`QuestionTypes.focus_words`: type cues, stop words and
  question boilerplate removed) *name a topic* when the passages the retriever ranks first for
  them (`TOPIC_TITLES` of them) include one whose title they name (`questions.names_title`), or
  when no passage holds any of them (a topic the index does not know: "What is gout?" over
  passages that never mention gout is no follow-up). "Which genes are involved?" keeps the
  word "involved", which passages use but no title names, so it names no topic. A retriever
  that cannot be searched that cheaply (anything but the embedded BM25 index) is not asked:
  there, any focus word names a topic.
* A question that names a topic and does not refer back (no third-person pronoun or
  demonstrative, `ANAPHORS`) stands alone, a new topic included: it is searched as it is.
* Otherwise the conversation's topic is the focus of the newest of the last `TOPIC_LOOKBACK`
  earlier questions that names a topic, and retrieval searches with the question followed by
  that topic ("How is it treated? asthma"), a question that names a topic of its own and
  refers back ("How is it related to diabetes?") included.

Only words move between questions, never a data set's templates: the same rules hold for any
phrasing, in any domain whose passages have titles. The type cues are the profile's
(`questions`, a `QuestionTypes`; default the default profile's): with none, "How is it
treated?" keeps "treated" as a focus word, and only its pronoun makes it a follow-up.

The chosen topic rides on to generation (`metadata["retrieval"]`, then the prompt's
`Conversation topic:` line, see `generation.build_messages`), together with the memories that
the prompt shows (`prompt_memory`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from parallel_tiers.services.questions import QuestionTypes, default_questions, names_title
from parallel_tiers.services.text import tokenize

TOPIC_LOOKBACK = 4
"""Earlier questions searched (newest first) for the topic a follow-up leans on."""
TOPIC_TITLES = 3
"""Passages, best first, whose titles may show that a question names a topic."""
ANAPHORS = frozenset({
    "it", "its", "itself", "they", "them", "their", "theirs", "themselves", "he", "him", "his",
    "himself", "she", "her", "hers", "herself", "this", "that", "these", "those",
})  # fmt: skip
"""Words by which a question refers back to something named earlier."""

_WORD = re.compile(r"[a-z']+")

TitleSearch = Callable[[str], Sequence[str] | None]
"""The titles of the passages a retriever ranks first for a text; None when not known."""


@dataclass(frozen=True)
class Resolution:
    """What retrieval resolved a chat question to."""

    search: str
    """The text retrieval searches with."""
    topic: str | None = None
    """The conversation's topic carried into this question (focus words of an earlier one)."""
    follow_up: bool = False
    """Whether the question leans on the conversation: it names no topic, or refers back."""

    def as_metadata(self) -> dict[str, Any]:
        """The resolution as recorded in `metadata["retrieval"]`."""
        return {"search": self.search, "topic": self.topic, "follow_up": self.follow_up}


def earlier_questions(state: Mapping[str, Any]) -> list[str]:
    """The user's earlier questions in a chat thread's state, oldest first (not the current)."""
    asked = [str(m.content) for m in state.get("messages") or [] if isinstance(m, HumanMessage)]
    if asked and asked[-1] == state.get("query"):
        asked = asked[:-1]
    return asked


def refers_back(question: str) -> bool:
    """Whether `question` uses a pronoun or demonstrative that points at an earlier topic."""
    return any(word in ANAPHORS for word in _WORD.findall(question.lower()))


def names_topic(question: str, titles: TitleSearch, questions: QuestionTypes | None = None) -> bool:
    """Whether `question` names what it is about (see the module docstring)."""
    qt = default_questions() if questions is None else questions
    named = " ".join(qt.focus_words(question))
    own = tokenize(named)
    if not own:
        return False
    found = titles(named)
    if not found:  # not known (None), or a topic no passage mentions ([])
        return True
    return any(names_title(own, qt.title_topic(title)) for title in found)


def resolve_topic(
    question: str,
    earlier: Sequence[str],
    titles: TitleSearch,
    questions: QuestionTypes | None = None,
) -> Resolution:
    """Resolve a chat question against the conversation's earlier questions.

    Args:
        question: The question asked now.
        earlier: The conversation's earlier questions, oldest first.
        titles: Titles of the passages ranked first for a text (`TitleSearch`).
        questions: The question types questions and titles are read with (default: the
            default profile's; a run's are `ctx.services.profile.questions`).

    Returns:
        The text to search with, the topic carried over (None when the question stands alone
        or nothing earlier names a topic), and whether the question is a follow-up.

    """
    qt = default_questions() if questions is None else questions
    own = names_topic(question, titles, qt)
    back = refers_back(question)
    if own and not back:
        return Resolution(search=question)
    recent = earlier[-TOPIC_LOOKBACK:] if TOPIC_LOOKBACK > 0 else []
    topic = next(
        (" ".join(qt.focus_words(q)) for q in reversed(recent) if names_topic(q, titles, qt)),
        None,
    )
    if topic is None:
        return Resolution(search=question, follow_up=not own)
    return Resolution(search=f"{question} {topic}", topic=topic, follow_up=True)


def prompt_memory(
    memory: Sequence[Mapping[str, Any]], history: Sequence[BaseMessage]
) -> list[Mapping[str, Any]]:
    """The recalled memories a prompt shows: those whose turn is not in its history already.

    A chat turn is saved to memory under its answer's message id, so an item whose key is
    the id of an answer in `history` repeats what the prompt holds anyway.
    """
    in_history = {m.id for m in history if isinstance(m, AIMessage) and m.id}
    return [item for item in memory if item.get("key") not in in_history]


def memory_used(reply: Any, shown: Sequence[Mapping[str, Any]]) -> list[str]:
    """The keys of the shown memories an answer drew on, for its provenance.

    The memories the model names in `response_metadata["memory_used"]` (their numbers in the
    prompt's memory block, from 1; the offline model reports them) or, from a model that does
    not say, every memory the prompt showed.
    """
    meta = getattr(reply, "response_metadata", None) or {}
    numbers = meta.get("memory_used")
    if not isinstance(numbers, list):
        return [str(item.get("key")) for item in shown]
    return [
        str(shown[n - 1].get("key")) for n in numbers if isinstance(n, int) and 1 <= n <= len(shown)
    ]


__all__ = [
    "ANAPHORS",
    "TOPIC_LOOKBACK",
    "TOPIC_TITLES",
    "Resolution",
    "TitleSearch",
    "earlier_questions",
    "memory_used",
    "names_topic",
    "prompt_memory",
    "refers_back",
    "resolve_topic",
]

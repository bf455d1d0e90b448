"""Resolving chat questions against their conversation, and the memories a prompt shows."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from parallel_tiers.services.conversation import (
    TOPIC_LOOKBACK,
    Resolution,
    memory_used,
    names_topic,
    prompt_memory,
    refers_back,
    resolve_topic,
)
from parallel_tiers.services.questions import focus_words, names_title, title_topic
from parallel_tiers.services.retrieval import default_retriever
from parallel_tiers.tiers.retrieval import resolve_search

TITLES = {
    "gout": ["Gout (causes)", "Gout (treatment)"],
    "asthma": ["Asthma", "Asthma in children"],
    "involved": ["Cystic fibrosis (genetic changes)"],  # a word passages use, no title names
    "diabetes": ["Diabetes", "What is type 2 diabetes?"],
}


def titles(text: str) -> Sequence[str] | None:
    """A fake title search: the titles listed for the text's first word, [] for others."""
    return TITLES.get(text.split(" ")[0], [])


def test_focus_words_keep_what_the_question_names() -> None:
    assert focus_words("What are the symptoms of Sneddon syndrome?") == ["sneddon", "syndrome"]
    assert focus_words("What are its symptoms?") == []
    assert focus_words("How is it treated?") == []
    assert focus_words("Does this condition run in families?") == ["condition"]
    assert title_topic("Stroke signs and symptoms") == ["stroke"]
    assert title_topic("What are the treatments for Gout ?") == ["gout"]
    assert names_title(["asthma"], title_topic("Asthma in children"))
    assert not names_title(["children"], title_topic("Asthma in children and older adults"))


def test_refers_back() -> None:
    assert refers_back("How is it treated?")
    assert refers_back("What should she eat?")
    assert refers_back("Are these symptoms serious?")
    assert refers_back("And how do doctors treat that?")
    assert not refers_back("What causes gout?")
    assert not refers_back("Is there a cure?")


def test_names_topic() -> None:
    assert names_topic("What causes gout?", titles)
    assert not names_topic("How is it treated?", titles)  # no focus words at all
    assert not names_topic("Which genes are involved?", titles)  # no title it names
    assert names_topic("What is progeria?", titles), "a topic no passage mentions"
    assert names_topic("Which genes are involved?", lambda text: None), "no title search"


@pytest.mark.parametrize(
    ("question", "earlier", "expected"),
    [
        ("What is asthma?", [], Resolution("What is asthma?")),
        ("What causes gout?", ["What is asthma?"], Resolution("What causes gout?")),
        ("How is it treated?", ["What is asthma?"],
         Resolution("How is it treated? asthma", "asthma", follow_up=True)),
        ("Which genes are involved?", ["What causes gout?", "Is it inherited?"],
         Resolution("Which genes are involved? gout", "gout", follow_up=True)),
        ("How is it related to diabetes?", ["What is asthma?"],
         Resolution("How is it related to diabetes? asthma", "asthma", follow_up=True)),
        ("What is the outlook?", ["Hello?"], Resolution("What is the outlook?", follow_up=True)),
    ],
    ids=["first", "switch", "pronoun", "chain", "both", "no-topic"],
)  # fmt: skip
def test_resolve_topic(question: str, earlier: list[str], expected: Resolution) -> None:
    assert resolve_topic(question, earlier, titles) == expected


def test_the_topic_is_looked_for_in_the_last_few_questions_only() -> None:
    earlier = ["What is asthma?", *["Is it inherited?"] * TOPIC_LOOKBACK]
    assert resolve_topic("How is it treated?", earlier, titles).topic is None
    assert resolve_topic("How is it treated?", [*earlier[1:], "What is asthma?"], titles).topic


def test_resolve_search_on_the_demo_knowledge_base() -> None:
    retriever = default_retriever(None)
    thread = [HumanMessage("What is asthma?"), AIMessage("Asthma is ... [1].")]
    follow_up = resolve_search({"query": "How is it treated?", "messages": thread}, retriever)
    assert follow_up == Resolution("How is it treated? asthma", "asthma", follow_up=True)
    switch = resolve_search({"query": "What causes kidney stones?", "messages": thread}, retriever)
    assert switch == Resolution("What causes kidney stones?")
    assert resolve_search({"query": "How is it treated?"}, retriever).search == (
        "How is it treated?"
    )


def test_prompt_memory_leaves_out_turns_the_history_holds() -> None:
    history = [HumanMessage("What is asthma?"), AIMessage("Asthma is ...", id="turn-1")]
    memory = [{"key": "turn-1", "query": "What is asthma?"}, {"key": "old", "query": "gout"}]
    assert prompt_memory(memory, history) == [memory[1]]
    assert prompt_memory(memory, []) == memory


def test_memory_used_is_what_the_model_says_else_everything_shown() -> None:
    shown = [{"key": "a"}, {"key": "b"}]
    said = AIMessage("...", response_metadata={"memory_used": [2, 7, "x"]})
    assert memory_used(said, shown) == ["b"]
    assert memory_used(AIMessage("...", response_metadata={"memory_used": []}), shown) == []
    assert memory_used(AIMessage("..."), shown) == ["a", "b"]
    assert memory_used(AIMessage("..."), []) == []

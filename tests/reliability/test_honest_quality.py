"""Quality a person would agree with, through the whole graph (issue 16).

A chat follow-up is scored as the conversation resolved it, and the offline model quotes no
sentence that says nothing.
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langgraph.checkpoint.memory import InMemorySaver

from parallel_tiers import Context, build_mode_graph
from parallel_tiers.services.generation import ExtractiveChatModel, build_messages, parse_prompt
from parallel_tiers.services.text import split_sentences
from tests.unit.test_quality import MARFAN_SYMPTOMS, SYMPTOMS_Q


class OffTopicModel(BaseChatModel):
    """Quotes the first sentence of the first source whose title does not name `avoid`."""

    avoid: str

    @property
    def _llm_type(self) -> str:
        return "off-topic"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        sources = parse_prompt(str(messages[-1].content)).sources
        n, source = next(
            (i, s) for i, s in enumerate(sources, 1) if self.avoid not in s["title"].lower()
        )
        sentence = split_sentences(source["content"])[0].rstrip(".")
        return ChatResult(generations=[ChatGeneration(message=AIMessage(f"{sentence} [{n}]."))])


async def test_an_off_topic_follow_up_answer_scores_low_and_names_the_topic() -> None:
    graph = build_mode_graph(4, checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "off-topic-follow-up"}}
    context = Context(model=OffTopicModel(avoid="asthma"))
    await graph.ainvoke({"query": "What is asthma?"}, config, context=context)
    out = await graph.ainvoke({"query": "How is it treated?"}, config, context=context)
    metrics = out["quality_metrics"]
    assert out["citations"] and all(c["supported"] for c in out["citations"]), "a faithful quote"
    assert out["quality_score"] < 0.5, (out["response"], metrics)
    assert any("asthma" in gap for gap in metrics["missing"]), metrics["missing"]


async def test_an_on_topic_follow_up_answer_scores_high() -> None:
    graph = build_mode_graph(4, checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "on-topic-follow-up"}}
    await graph.ainvoke({"query": "What is asthma?"}, config)
    out = await graph.ainvoke({"query": "How is it treated?"}, config)
    assert out["quality_score"] > 0.8, (out["response"], out["quality_metrics"])
    assert out["quality_metrics"]["aspect_addressed"] is True


def test_the_offline_model_quotes_no_list_introduction_or_restatement() -> None:
    messages = build_messages(SYMPTOMS_Q, MARFAN_SYMPTOMS, system_prompt="You are an expert.")
    answer = str(ExtractiveChatModel().invoke(messages).content)
    assert "Arachnodactyly" in answer, answer
    assert "following list" not in answer, answer
    assert "These are common symptoms" not in answer, answer


async def test_a_follow_up_with_nothing_to_follow_scores_zero_and_says_why() -> None:
    # Tried over the server: "How is it treated?" on a new thread was answered about iron
    # supplements and scored 1.00; the question names no topic and refers back to nothing.
    graph = build_mode_graph(4, checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "nothing-to-follow"}}
    out = await graph.ainvoke({"query": "How is it treated?"}, config)
    metrics = out["quality_metrics"]
    assert out["quality_score"] == 0.0, (out["response"], metrics)
    assert metrics["topicality"] == 0.0
    assert (
        "the question's topic: it refers back to something it does not name" in (metrics["missing"])
    )

import importlib.util
import time
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage

from parallel_tiers.services.citations import answer_sentences, check_support, passage_text
from parallel_tiers.services.generation import (
    GROUNDING_INSTRUCTION,
    NOT_FOUND,
    ExtractiveChatModel,
    build_messages,
    model_name_of,
    parse_prompt,
    render_prompt,
    resolve_model,
)

DOCS: list[dict[str, Any]] = [
    {
        "id": "kb-hypertension",
        "title": "Hypertension management",
        "source": "cardiology-guide",
        "content": (
            "Hypertension is diagnosed when blood pressure is repeatedly 140/90 mmHg or higher. "
            "Lifestyle changes such as reducing salt intake and regular exercise lower blood "
            "pressure. ACE inhibitors, calcium channel blockers and thiazide diuretics are "
            "first-line drugs. Blood pressure should be checked again within four weeks of a "
            "dose change."
        ),
        "score": 4.1,
    },
    {
        "id": "kb-stroke",
        "title": "Stroke warning signs",
        "source": "neurology-guide",
        "content": (
            "A stroke happens when blood flow to part of the brain is blocked or a vessel "
            "bursts. The FAST test checks for face drooping, arm weakness and speech "
            "difficulty. Anyone showing these warning signs needs emergency care at once. "
            "Clot-busting thrombolysis is given within 4.5 hours of symptom onset."
        ),
        "score": 3.2,
    },
    {
        "id": "kb-migraine",
        "title": "Migraine treatment",
        "source": "neurology-guide",
        "content": (
            "Migraine is a primary headache disorder with recurrent throbbing attacks. "
            "Triptans such as sumatriptan are first-line treatment for moderate to severe "
            "migraine attacks. Simple painkillers like ibuprofen help mild attacks. "
            "Propranolol or topiramate are used to prevent frequent attacks."
        ),
        "score": 2.5,
    },
]

DIABETES = {
    "id": "kb-diabetes",
    "title": "Type 2 diabetes",
    "source": "endocrine-guide",
    "content": (
        "Type 2 diabetes is diagnosed with an HbA1c of 48 mmol/mol or higher. Metformin is the "
        "usual first medicine. Patients should have their feet and eyes checked every year."
    ),
    "score": 1.0,
}

STROKE_Q = "What are the warning signs of a stroke?"


def _messages(query: str, docs: list[dict[str, Any]], **kwargs: Any) -> list[Any]:
    return build_messages(query, docs, system_prompt="You are a careful physician.", **kwargs)


def _answer(query: str, docs: list[dict[str, Any]], **kwargs: Any) -> str:
    return str(ExtractiveChatModel().invoke(_messages(query, docs, **kwargs)).content)


# ---------------------------------------------------------------------------------- prompt


def test_build_messages_layout() -> None:
    history = [HumanMessage("Hi"), AIMessage("Hello, how can I help?")]
    tools = [{"name": "calculator", "args": {"expression": "6*7"}, "output": 42}]
    messages = build_messages(
        "What is hypertension?",
        DOCS[:2],
        system_prompt="You are a cardiologist.",
        tool_results=tools,
        history=history,
    )
    assert isinstance(messages[0], SystemMessage)
    assert messages[0].text.startswith("You are a cardiologist.")
    assert GROUNDING_INSTRUCTION in messages[0].text
    assert messages[1:3] == history
    assert isinstance(messages[-1], HumanMessage)
    assert messages[-1].content == (
        "Sources:\n"
        "[1] Hypertension management (cardiology-guide)\n"
        f"{DOCS[0]['content']}\n\n"
        "[2] Stroke warning signs (neurology-guide)\n"
        f"{DOCS[1]['content']}\n\n"
        "Tool results:\n"
        '- calculator(expression="6*7"): 42\n\n'
        "Question: What is hypertension?"
    )


def test_build_messages_without_documents_or_tools() -> None:
    text = _messages("What is hypertension?", [])[-1].content
    assert text == "Sources:\n(none)\n\nQuestion: What is hypertension?"
    assert "Tool results" not in _messages("x", DOCS)[-1].content


def test_render_parse_roundtrip() -> None:
    tools = [
        {"name": "calculator", "args": {"expression": "2+2"}, "output": "4"},
        {"name": "drug_lookup", "args": {"name": "x"}, "status": "error", "error": "timeout"},
    ]
    parsed = parse_prompt(render_prompt("Which drugs treat migraine?", DOCS, tools))
    assert parsed.question == "Which drugs treat migraine?"
    assert [s["title"] for s in parsed.sources] == [d["title"] for d in DOCS]
    assert [s["source"] for s in parsed.sources] == [d["source"] for d in DOCS]
    assert [s["content"] for s in parsed.sources] == [d["content"] for d in DOCS]
    assert parsed.tools == [("calculator", "4"), ("drug_lookup", "error: timeout")]


def test_a_failed_tool_whose_message_has_brackets_is_read_as_a_failure() -> None:
    # "round(): the number ..." once made the parser take the message for the tool's output
    error = "ValueError: round(): the number of digits is limited to ±400"
    tools = [{"name": "calculator", "args": {"expression": "round(1, -10**8)"}, "error": error}]
    parsed = parse_prompt(render_prompt("What is round(1, -10**8) mg?", [], tools))
    assert parsed.tools == [("calculator", f"error: {error}")]
    assert _answer("What is round(1, -10**8) mg?", [], tool_results=tools).startswith(
        f"calculator failed: {error}."
    )


def test_parse_plain_text_is_a_bare_question() -> None:
    parsed = parse_prompt("How are you?")
    assert parsed.question == "How are you?"
    assert parsed.sources == []


# ---------------------------------------------------------------------------------- answers


def test_answers_from_the_right_passage() -> None:
    answer = _answer(STROKE_Q, DOCS)
    sentences = answer_sentences(answer)
    assert sentences
    assert {n for s in sentences for n in s.markers} == {2}
    assert "warning signs needs emergency care" in answer


def test_every_sentence_is_supported_by_its_cited_passage() -> None:
    for query in (
        STROKE_Q,
        "Which drugs are first-line for high blood pressure?",
        "How is a severe migraine attack treated?",
    ):
        sentences = answer_sentences(_answer(query, DOCS))
        assert sentences
        for sentence in sentences:
            assert sentence.markers, sentence.text
            for n in sentence.markers:
                assert 1 <= n <= len(DOCS)
                assert check_support(sentence.text, passage_text(DOCS[n - 1]))[0], sentence.text


def test_sentences_are_quoted_verbatim() -> None:
    answer = _answer("How is a severe migraine attack treated?", DOCS)
    for sentence in answer_sentences(answer):
        assert sentence.text.rstrip(".") in DOCS[2]["content"]


def test_most_relevant_source_first_and_grouped() -> None:
    docs = [DIABETES, DOCS[2], DOCS[1]]
    answer = _answer("What treatment helps migraine attacks?", docs)
    order = [s.markers[0] for s in answer_sentences(answer)]
    assert order[0] == 2
    assert order == sorted(order, key=order.index)  # same source kept together


def test_max_sentences_and_near_duplicates() -> None:
    copy = {**DOCS[1], "id": "kb-stroke-copy", "title": "Stroke (copy)"}
    model = ExtractiveChatModel(max_sentences=2)
    answer = str(model.invoke(_messages(STROKE_Q, [DOCS[1], copy])).content)
    texts = [s.text for s in answer_sentences(answer)]
    assert 1 <= len(texts) <= 2
    assert len(set(texts)) == len(texts)


def test_passage_footnotes_do_not_become_citations() -> None:
    doc = {
        **DOCS[1],
        "content": "The FAST test spots the warning signs of a stroke [12]. Act fast.",
    }
    answer = _answer(STROKE_Q, [doc])
    assert answer == "The FAST test spots the warning signs of a stroke [1]."


def test_honest_fallback_without_relevant_sources() -> None:
    assert _answer("How is gout treated?", DOCS) == NOT_FOUND
    assert _answer(STROKE_Q, []) == NOT_FOUND
    assert _answer("Is it?", DOCS) == NOT_FOUND  # no content words at all


def test_tool_results_come_first() -> None:
    tools = [
        {"name": "calculator", "args": {"expression": "6*7"}, "output": 42},
        {"name": "drug_lookup", "args": {"name": "x"}, "error": "service unavailable"},
    ]
    answer = _answer(STROKE_Q, DOCS, tool_results=tools)
    assert answer.startswith("calculator returned 42. drug_lookup failed: service unavailable. ")
    assert "[2]" in answer
    assert _answer("How is gout treated?", DOCS, tool_results=tools[:1]) == (
        f"calculator returned 42. {NOT_FOUND}"
    )


def test_uses_the_last_human_message() -> None:
    messages = [*_messages(STROKE_Q, DOCS), AIMessage("..."), HumanMessage("Thanks!")]
    assert ExtractiveChatModel().invoke(messages).content == NOT_FOUND
    history = [HumanMessage(render_prompt("How is gout treated?", DOCS)), AIMessage(NOT_FOUND)]
    answer = ExtractiveChatModel().invoke(_messages(STROKE_Q, DOCS, history=history)).content
    assert "[2]" in answer


def test_deterministic_and_stop_sequences() -> None:
    messages = _messages(STROKE_Q, DOCS)
    model = ExtractiveChatModel()
    full = model.invoke(messages).content
    assert model.invoke(messages).content == full
    assert model.invoke(messages, stop=[" [2]"]).content == full[: full.index(" [2]")]


def test_usage_and_response_metadata() -> None:
    message = ExtractiveChatModel().invoke(_messages(STROKE_Q, DOCS))
    usage = message.usage_metadata
    assert usage is not None
    assert usage["input_tokens"] > usage["output_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert message.response_metadata["model_name"] == "local:extractive"


async def test_ainvoke_matches_invoke() -> None:
    messages = _messages(STROKE_Q, DOCS)
    model = ExtractiveChatModel()
    assert (await model.ainvoke(messages)).content == model.invoke(messages).content


def _aggregate(chunks: list[AIMessageChunk]) -> AIMessageChunk:
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    return total


async def test_astream_word_by_word_with_usage_once() -> None:
    messages = _messages(STROKE_Q, DOCS)
    model = ExtractiveChatModel()
    expected = model.invoke(messages)
    chunks = [c async for c in model.astream(messages)]
    assert len(chunks) > 5
    assert sum(1 for c in chunks if c.usage_metadata) == 1
    merged = _aggregate(chunks)
    assert merged.content == expected.content
    assert merged.usage_metadata == expected.usage_metadata
    assert merged.response_metadata["model_name"] == "local:extractive"


def test_sync_stream_aggregates_like_invoke() -> None:
    messages = _messages(STROKE_Q, DOCS)
    model = ExtractiveChatModel()
    merged = _aggregate(list(model.stream(messages)))
    expected = model.invoke(messages)
    assert merged.content == expected.content
    assert merged.usage_metadata == expected.usage_metadata


async def test_langgraph_messages_stream_shows_tokens() -> None:
    from langgraph.graph import END, START, StateGraph
    from typing_extensions import TypedDict

    class S(TypedDict, total=False):
        query: str
        response: str

    model = ExtractiveChatModel()

    async def generate(state: S) -> S:
        reply = await model.ainvoke(_messages(state["query"], DOCS))
        return {"response": str(reply.content)}

    builder = StateGraph(S)
    builder.add_node("generate", generate)
    builder.add_edge(START, "generate")
    builder.add_edge("generate", END)
    graph = builder.compile()
    tokens = [
        msg.text
        async for msg, _meta in graph.astream({"query": STROKE_Q}, stream_mode="messages")
        if isinstance(msg, AIMessageChunk)
    ]
    assert len(tokens) > 5
    assert "".join(tokens) == model.invoke(_messages(STROKE_Q, DOCS)).content


def test_fast_enough() -> None:
    messages = _messages(STROKE_Q, [*DOCS, DIABETES, {**DOCS[0], "id": "x"}])
    model = ExtractiveChatModel()
    model.invoke(messages)  # warm up the sentence splitter
    start = time.perf_counter()
    for _ in range(10):
        model.invoke(messages)
    assert (time.perf_counter() - start) / 10 < 0.05


# ---------------------------------------------------------------------------------- resolution


def test_resolve_model() -> None:
    local = resolve_model(None)
    assert isinstance(local, ExtractiveChatModel)
    assert resolve_model("local:extractive") is local
    own = ExtractiveChatModel(max_sentences=2)
    assert resolve_model(own) is own


@pytest.mark.skipif(importlib.util.find_spec("langchain") is not None, reason="langchain installed")
def test_provider_model_without_langchain_explains_the_install() -> None:
    with pytest.raises(
        ValueError, match=r'pip install "langgraph-parallel-tiers\[models\]"'
    ) as err:
        resolve_model("openai:gpt-4o-mini")
    assert "langchain-openai" in str(err.value)


def test_model_name_of() -> None:
    assert model_name_of(ExtractiveChatModel()) == "local:extractive"
    assert model_name_of(ExtractiveChatModel(model_name="custom")) == "custom"
    fake = GenericFakeChatModel(messages=iter([AIMessage("x")]))
    assert model_name_of(fake) == "GenericFakeChatModel"


# ---------------------------------------------------------------------------------- topic


NMO = {
    "id": "nmo",
    "title": "Neuromyelitis optica (treatment)",
    "source": "NINDS",
    "content": (
        "- There is no cure for NMO, but therapies can shorten attacks. "
        "- High-dose steroids are given for an attack. "
        "The NINDS supports research on the immune system."
    ),
}


def test_a_passage_titled_with_the_topic_answers_even_in_other_words() -> None:
    # The body never says "neuromyelitis optica" nor "treatment": the title names the topic,
    # and the sentences about treating (cure, therapies) come first.
    answer = _answer("What are the treatments for Neuromyelitis Optica?", [NMO])
    assert answer != NOT_FOUND
    assert answer.startswith("There is no cure for NMO, but therapies can shorten attacks [1].")
    assert "- " not in answer  # list bullets are not quoted
    # a passage whose title is off topic still gives the honest fallback
    assert _answer("What are the treatments for gout?", [NMO]) == NOT_FOUND

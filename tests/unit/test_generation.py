import importlib.util
import time
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage

from parallel_tiers.services.citations import answer_sentences, check_support, passage_text
from parallel_tiers.services.generation import (
    GROUNDING_INSTRUCTION,
    MEMORY_HEADER,
    MEMORY_INSTRUCTION,
    NOT_FOUND,
    ExtractiveChatModel,
    MemoryNote,
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


FATHER = {
    "key": "k1",
    "query": "My father had a stroke last year.",
    "response": "A stroke happens when blood flow to part of the brain is blocked [2].",
}


def test_memory_and_topic_blocks_render_and_parse_back() -> None:
    tools = [{"name": "calculator", "args": {"expression": "2+2"}, "output": "4"}]
    memory = [FATHER, {"key": "k2", "query": "Hi\nthere", "response": ""}]
    text = render_prompt("How is it treated?", DOCS[:1], tools, topic="migraine", memory=memory)
    assert text.endswith(
        '- calculator(expression="2+2"): 4\n\n'
        f"{MEMORY_HEADER}\n"
        "- (1) User: My father had a stroke last year. | Assistant: A stroke happens when blood "
        "flow to part of the brain is blocked.\n"  # its old markers are gone
        "- (2) User: Hi there\n\n"
        "Conversation topic: migraine\n\n"
        "Question: How is it treated?"
    )
    parsed = parse_prompt(text)
    assert parsed.question == "How is it treated?"
    assert parsed.topic == "migraine"
    assert parsed.memory == [
        MemoryNote(1, FATHER["query"], "A stroke happens when blood flow to part of the brain "
                   "is blocked."),
        MemoryNote(2, "Hi there", ""),
    ]  # fmt: skip
    assert parsed.tools == [("calculator", "4")]
    assert [s["content"] for s in parsed.sources] == [DOCS[0]["content"]]


def test_the_system_message_says_how_to_use_memory_only_when_there_is_some() -> None:
    assert MEMORY_INSTRUCTION in _messages(STROKE_Q, DOCS, memory=[FATHER])[0].text
    assert MEMORY_INSTRUCTION not in _messages(STROKE_Q, DOCS)[0].text


def test_a_passage_quoting_the_block_headers_is_still_a_passage() -> None:
    doc = {**DOCS[0], "content": f"Notes.\n\n{MEMORY_HEADER}\nnot a memory line"}
    parsed = parse_prompt(render_prompt("What is hypertension?", [doc]))
    assert parsed.memory == [] and parsed.topic is None
    assert parsed.sources[0]["content"] == doc["content"]


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


# ------------------------------------------------------------------------ in a conversation


def _reply(query: str, docs: list[dict[str, Any]], **kwargs: Any) -> tuple[str, Any]:
    reply = ExtractiveChatModel().invoke(_messages(query, docs, **kwargs))
    return str(reply.content), reply.response_metadata.get("memory_used")


def test_a_follow_up_is_answered_about_the_conversation_topic() -> None:
    assert _answer("How is it treated?", DOCS) == NOT_FOUND  # alone, it names nothing
    answer = _answer("How is it treated?", DOCS, topic="migraine")
    assert {n for s in answer_sentences(answer) for n in s.markers} == {3}
    assert "Triptans" in answer


def test_a_follow_up_of_cue_words_only_is_answered_from_the_topic() -> None:
    answer = _answer("Who gets it?", DOCS, topic="stroke")  # no content word of its own
    assert {n for s in answer_sentences(answer) for n in s.markers} == {2}
    assert _answer("Who gets it?", DOCS) == NOT_FOUND
    assert _answer("Thanks!", DOCS, topic="stroke") == NOT_FOUND  # asks nothing


def test_a_passage_holding_less_of_the_focus_is_left_out() -> None:
    docs = [
        {"id": "a", "title": "Sneddon syndrome (symptoms)", "source": "s", "score": 2.0,
         "content": "Sneddon syndrome is marked by livedo reticularis and repeated strokes."},
        {"id": "b", "title": "Gardner-Diamond syndrome (symptoms)", "source": "s", "score": 1.0,
         "content": "The symptoms of this syndrome are painful bruises on the legs."},
    ]  # fmt: skip
    answer = _answer("What are the symptoms of Sneddon syndrome?", docs)
    assert {n for s in answer_sentences(answer) for n in s.markers} == {1}


def test_a_follow_up_reads_the_earlier_questions_of_the_thread() -> None:
    history = [HumanMessage(STROKE_Q), AIMessage("A stroke ... [2].")]
    answer = _answer("What is the outlook?", DOCS, history=history)
    assert {n for s in answer_sentences(answer) for n in s.markers} == {2}


def test_a_question_naming_its_own_topic_ignores_the_conversation_topic() -> None:
    # it names a source's title ("Stroke warning signs"): the topic is not needed
    assert _answer(STROKE_Q, DOCS, topic="migraine") == _answer(STROKE_Q, DOCS)


def test_the_offline_model_answers_from_a_recalled_memory_and_says_so() -> None:
    answer, used = _reply("What should he watch for?", DOCS, memory=[FATHER])
    assert used == [1]
    assert {n for s in answer_sentences(answer) for n in s.markers} == {2}
    # a question about something else does not use it
    answer, used = _reply("Which drugs are first-line for high blood pressure?", DOCS,
                          memory=[FATHER])  # fmt: skip
    assert used == []
    assert {n for s in answer_sentences(answer) for n in s.markers} == {1}


async def test_streaming_reports_the_memory_used_too() -> None:
    model = ExtractiveChatModel()
    chunks = [c async for c in model.astream(_messages("What should he watch for?", DOCS,
                                                       memory=[FATHER]))]  # fmt: skip
    assert chunks[-1].response_metadata["memory_used"] == [1]


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

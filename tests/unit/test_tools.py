from __future__ import annotations

import math
import time
from datetime import date, timedelta
from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.tools import BaseTool, tool

from parallel_tiers.services.tools import (
    ToolSuggester,
    bmi_calculator,
    calculator,
    date_calculator,
    default_tools,
    evaluate_expression,
    extract_args,
    make_knowledge_base_lookup,
    unit_converter,
)


class FakeRetriever(BaseRetriever):
    """Returns fixed documents (one article twice, as passages of it can be)."""

    docs: list[Document]
    queries: list[str] = []

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        self.queries.append(query)
        return self.docs


def make_retriever() -> FakeRetriever:
    rows = [
        ("a1", "Asthma basics"),
        ("a1", "Asthma basics"),
        ("a2", "Inhalers"),
        ("a3", "Allergies"),
        ("a4", "Sleep"),
    ]
    return FakeRetriever(
        docs=[
            Document(page_content=f"text of {title}", metadata={"id": doc_id, "title": title})
            for doc_id, title in rows
        ],
        queries=[],
    )


@tool
def drug_interactions(drugs: str) -> str:
    """Check interactions between medications and drugs."""
    return f"no known interactions for {drugs}"


@tool
def dose_table(drug: str, weight_kg: float) -> str:
    """Dose of a drug by body weight."""
    return f"{drug}: {weight_kg}"


# ----------------------------------------------------------------------------- calculator


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("12.5 * 4 + 3", 53),
        ("2 ** 10", 1024),
        ("2^10", 1024),
        ("10 // 3 + 10 % 3", 4),
        ("-(2 + 3) * 4", -20),
        ("sqrt(16) + abs(-2)", 6),
        ("round(2.567, 2)", 2.57),
        ("min(3, 1, 2) + max(3, 1, 2)", 4),
        ("log(100, 10)", 2),
        ("exp(0) + log(e)", 2),
        ("7 / 2", 3.5),
    ],
)
def test_calculator_values(expression: str, expected: float) -> None:
    assert math.isclose(evaluate_expression(expression), expected)


def test_calculator_tool_answer() -> None:
    assert calculator.invoke({"expression": "12.5 * 4 + 3"}) == "53"
    assert calculator.invoke({"expression": "1 / 3"}) == "0.333333333333"
    assert calculator.invoke({"expression": "2 ** 100"}) == str(2**100)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("__import__('os')", "only the functions"),
        ("__import__('os').system('ls')", "attribute access"),
        ("(1).real", "attribute access"),
        ("x + 1", "unknown name"),
        ("open('f')", "only the functions"),
        ("[1, 2]", "List is not allowed"),
        ("'a' * 3", "only numbers"),
        ("True + 1", "only numbers"),
        ("lambda: 1", "Lambda is not allowed"),
        ("1 if 1 else 2", "IfExp is not allowed"),
        ("sqrt(x=4)", "positional"),
        ("1 +", "not a valid"),
        ("1 / 0", "division by zero"),
        ("sqrt(-1)", "domain"),
        ("(-8) ** (1 / 3)", "not a real number"),
    ],
)
def test_calculator_refuses(expression: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        evaluate_expression(expression)


@pytest.mark.parametrize(
    "expression",
    ["9 ** 9 ** 9", "10 ** 100000", "(9 ** 999) ** 999", "2 ** 9999", "exp(1000)", "1e308 * 10"],
)
def test_calculator_refuses_huge_results_quickly(expression: str) -> None:
    started = time.perf_counter()
    with pytest.raises(ValueError, match="large"):
        evaluate_expression(expression)
    assert time.perf_counter() - started < 0.5


def test_calculator_refuses_long_input() -> None:
    with pytest.raises(ValueError, match="longer than 200"):
        evaluate_expression("1 + " * 60 + "1")


def test_calculator_tool_raises_value_error() -> None:
    with pytest.raises(ValueError, match="attribute access"):
        calculator.invoke({"expression": "().__class__"})


# ----------------------------------------------------------------------------- units


@pytest.mark.parametrize(
    ("value", "src", "dst", "expected"),
    [
        (70, "kg", "lbs", "70 kilogram = 154.32 pound"),
        (5, "km", "miles", "5 kilometer = 3.11 mile"),
        (100, "°C", "°F", "100 degree Celsius = 212 degree Fahrenheit"),
        (98.6, "fahrenheit", "celsius", "98.6 degree Fahrenheit = 37 degree Celsius"),
        (0, "celsius", "kelvin", "0 degree Celsius = 273.15 kelvin"),
        (-40, "degrees fahrenheit", "C", "-40 degree Fahrenheit = -40 degree Celsius"),
        (500, "ml", "l", "500 milliliter = 0.5 liter"),
    ],
)
def test_unit_converter(value: float, src: str, dst: str, expected: str) -> None:
    assert unit_converter.invoke({"value": value, "from_unit": src, "to_unit": dst}) == expected


@pytest.mark.parametrize(
    ("src", "dst", "message"),
    [
        ("kg", "m", "cannot convert"),
        ("blorp", "kg", "unknown unit"),
        ("kg", "blorp", "unknown unit"),
    ],
)
def test_unit_converter_errors(src: str, dst: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        unit_converter.invoke({"value": 1, "from_unit": src, "to_unit": dst})


# ----------------------------------------------------------------------------- dates and BMI


def test_date_calculator() -> None:
    assert date_calculator.invoke({"start": "2024-01-01", "end": "2024-03-01"}) == (
        "60 days from 2024-01-01 to 2024-03-01"
    )
    assert date_calculator.invoke({"start": "2024-05-01", "days": 30}) == (
        "2024-05-01 + 30 days = 2024-05-31 (Friday)"
    )
    assert date_calculator.invoke({"start": "2024-03-01", "days": -1}).startswith(
        "2024-03-01 - 1 days = 2024-02-29"
    )
    assert date_calculator.invoke({"start": "2024-03-01", "end": "2024-02-29"}) == (
        "-1 day from 2024-03-01 to 2024-02-29"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"start": "01/02/2024", "days": 1}, "not an ISO date"),
        ({"start": "2024-02-30", "days": 1}, "not an ISO date"),
        ({"start": "2024-01-01"}, "either end"),
        ({"start": "2024-01-01", "end": "2024-01-02", "days": 3}, "either end"),
        ({"start": "9999-12-31", "days": 5}, "out of range"),
    ],
)
def test_date_calculator_errors(args: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        date_calculator.invoke(args)


@pytest.mark.parametrize(
    ("weight", "height", "category"),
    [
        (50, 1.80, "underweight"),
        (70, 1.75, "normal weight"),
        (85, 1.75, "pre-obesity"),
        (100, 1.75, "obesity class I,"),
        (110, 1.70, "obesity class II,"),
        (130, 1.70, "obesity class III"),
    ],
)
def test_bmi_categories(weight: float, height: float, category: str) -> None:
    answer = bmi_calculator.invoke({"weight_kg": weight, "height_m": height})
    assert f"BMI {weight / height**2:.1f} ({category}" in answer


def test_bmi_validates_ranges() -> None:
    with pytest.raises(ValueError, match=r"did you mean 1\.75 m"):
        bmi_calculator.invoke({"weight_kg": 70, "height_m": 175})
    with pytest.raises(ValueError, match="weight_kg"):
        bmi_calculator.invoke({"weight_kg": 0, "height_m": 1.7})


# ----------------------------------------------------------------------------- lookup tool


async def test_knowledge_base_lookup_async_top_three_distinct() -> None:
    retriever = make_retriever()
    lookup = make_knowledge_base_lookup(retriever)
    assert lookup.name == "knowledge_base_lookup"
    answer = await lookup.ainvoke({"topic": "asthma"})
    assert answer == "[a1] Asthma basics\n[a2] Inhalers\n[a3] Allergies"
    assert retriever.queries == ["asthma"]
    assert lookup.invoke({"topic": "asthma"}) == answer


async def test_knowledge_base_lookup_no_hits() -> None:
    lookup = make_knowledge_base_lookup(FakeRetriever(docs=[], queries=[]))
    assert await lookup.ainvoke({"topic": "gout"}) == "No articles found for 'gout'."


def test_default_tools() -> None:
    names = [t.name for t in default_tools()]
    assert names == ["calculator", "unit_converter", "date_calculator", "bmi_calculator"]
    with_lookup = default_tools(make_retriever())
    assert [t.name for t in with_lookup] == [*names, "knowledge_base_lookup"]
    assert all(isinstance(t, BaseTool) and t.description for t in with_lookup)


# ----------------------------------------------------------------------------- extraction


@pytest.mark.parametrize(
    ("name", "query", "expected"),
    [
        ("calculator", "what is 12.5 * 4 + 3", {"expression": "12.5 * 4 + 3"}),
        ("calculator", "Calculate 15% of 80?", {"expression": "15 / 100 * 80"}),
        ("calculator", "what's 12 times 7", {"expression": "12 * 7"}),
        ("calculator", "square root of 144", {"expression": "sqrt(144)"}),
        (
            "calculator",
            "What is 12.5 * 4 + 3 milligrams in total for my warfarin dose?",
            {"expression": "12.5 * 4 + 3"},
        ),
        (
            "unit_converter",
            "convert 70 kg to lbs",
            {"value": 70.0, "from_unit": "kg", "to_unit": "lbs"},
        ),
        (
            "unit_converter",
            "how many pounds is 70 kg",
            {"value": 70.0, "from_unit": "kg", "to_unit": "pounds"},
        ),
        (
            "unit_converter",
            "How many pounds is 70 kg? I am on a kidney diet for diabetes.",
            {"value": 70.0, "from_unit": "kg", "to_unit": "pounds"},
        ),
        (
            "unit_converter",
            "What is 37 °C in °F?",
            {"value": 37.0, "from_unit": "°C", "to_unit": "°F"},
        ),
        (
            "unit_converter",
            "convert 100 degrees fahrenheit to celsius",
            {"value": 100.0, "from_unit": "degrees fahrenheit", "to_unit": "celsius"},
        ),
        (
            "date_calculator",
            "how many days between 2024-01-01 and 2024-03-01",
            {"start": "2024-01-01", "end": "2024-03-01"},
        ),
        (
            "date_calculator",
            "what date is 30 days after 2024-05-01",
            {"start": "2024-05-01", "days": 30},
        ),
        ("date_calculator", "2 weeks before 2024-05-01", {"start": "2024-05-01", "days": -14}),
        ("date_calculator", "2024-05-01 plus 10 days", {"start": "2024-05-01", "days": 10}),
        ("bmi_calculator", "BMI for 70 kg and 1.75 m", {"weight_kg": 70.0, "height_m": 1.75}),
        (
            "bmi_calculator",
            "what is my body mass index at 175 cm and 70 kg?",
            {"weight_kg": 70.0, "height_m": 1.75},
        ),
        ("knowledge_base_lookup", "look up asthma", {"topic": "asthma"}),
        ("knowledge_base_lookup", "find articles about migraine", {"topic": "migraine"}),
        (
            "knowledge_base_lookup",
            "Can you look up information about the flu in the knowledge base?",
            {"topic": "flu"},
        ),
    ],
)
def test_extract_args(name: str, query: str, expected: dict[str, Any]) -> None:
    assert extract_args(name, query) == expected


def test_extract_args_days_until_uses_today() -> None:
    target = (date.today() + timedelta(days=10)).isoformat()
    assert extract_args("date_calculator", f"how many days until {target}") == {
        "start": date.today().isoformat(),
        "end": target,
    }


@pytest.mark.parametrize(
    ("name", "query"),
    [
        ("calculator", "what is 42"),
        ("calculator", "What are the symptoms of asthma?"),
        ("calculator", "Is 120/80 blood pressure normal?"),
        ("calculator", "I take 2 times 5 mg a day, is that a lot?"),
        ("unit_converter", "Is a fever of 38 C in children dangerous?"),
        ("unit_converter", "convert 70 kg to metres"),
        ("date_calculator", "what happened on 2024-02-30 and 2024-03-01"),
        ("bmi_calculator", "I weigh 70 kg and I am 1.75 m tall"),
        ("bmi_calculator", "what is a healthy BMI?"),
        ("knowledge_base_lookup", "What are the symptoms of asthma?"),
    ],
)
def test_extract_args_refuses(name: str, query: str) -> None:
    assert extract_args(name, query) is None


def test_extract_args_user_tools() -> None:
    assert extract_args("drug_interactions", "aspirin and warfarin", drug_interactions) == {
        "drugs": "aspirin and warfarin"
    }
    assert extract_args("dose_table", "ibuprofen 20 kg", dose_table) is None
    assert extract_args("drug_interactions", "aspirin") is None  # no tool, no schema


# ----------------------------------------------------------------------------- suggestion

ALL_TOOLS = [*default_tools(make_retriever()), drug_interactions, dose_table]


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("what is 12.5 * 4 + 3", "calculator"),
        ("convert 70 kg to lbs", "unit_converter"),
        ("how many days between 2024-01-01 and 2024-03-01", "date_calculator"),
        ("BMI for 70 kg and 1.75 m", "bmi_calculator"),
        ("find articles about migraine", "knowledge_base_lookup"),
    ],
)
async def test_suggester_picks_the_right_tool(query: str, name: str) -> None:
    suggestions = await ToolSuggester().asuggest(query, ALL_TOOLS)
    assert suggestions[0]["name"] == name
    assert suggestions[0]["args"] == extract_args(name, query)
    assert "arguments parsed" in suggestions[0]["reason"]
    assert all(0 < s["score"] <= 1 for s in suggestions)


async def test_suggestion_shape_and_measured_score() -> None:
    full = await ToolSuggester().asuggest("convert 70 kg to lbs", ALL_TOOLS)
    partial = await ToolSuggester().asuggest("I would like you to convert 70 kg to lbs", ALL_TOOLS)
    assert set(full[0]) == {"name", "score", "reason", "args"}
    assert full[0]["reason"] == "matched: convert, kg, lbs; arguments parsed"
    assert full[0]["score"] == 1.0
    assert 0.5 < partial[0]["score"] < full[0]["score"]


async def test_suggester_sorted_and_limited() -> None:
    query = "calculate the BMI for 70 kg and 1.75 m"
    suggestions = await ToolSuggester().asuggest(query, ALL_TOOLS, limit=5)
    scores = [s["score"] for s in suggestions]
    assert scores == sorted(scores, reverse=True)
    assert suggestions[0]["name"] == "bmi_calculator"
    assert await ToolSuggester().asuggest(query, ALL_TOOLS, limit=0) == []


async def test_suggester_allow_list() -> None:
    query = "convert 70 kg to lbs"
    assert await ToolSuggester().asuggest(query, ALL_TOOLS, allowed=["calculator"]) == []
    allowed = await ToolSuggester().asuggest(query, ALL_TOOLS, allowed={"unit_converter"})
    assert [s["name"] for s in allowed] == ["unit_converter"]
    assert await ToolSuggester().asuggest(query, ALL_TOOLS, allowed=[]) == []


@pytest.mark.parametrize(
    "query",
    [
        "What are the symptoms of asthma?",
        "How is type 2 diabetes treated?",
        "Is a fever of 38 C in children dangerous?",
        "How much ibuprofen can I take in 24 hours?",
        "Is 120/80 blood pressure normal?",
        "What is a healthy BMI for adults?",
        "",
    ],
)
async def test_no_suggestion_for_plain_medical_questions(query: str) -> None:
    assert await ToolSuggester().asuggest(query, ALL_TOOLS) == []


async def test_user_tool_with_one_string_argument() -> None:
    query = "check drug interactions for aspirin and warfarin"
    suggestions = await ToolSuggester().asuggest(query, ALL_TOOLS)
    assert [s["name"] for s in suggestions] == ["drug_interactions", "dose_table"]  # "drug"
    assert suggestions[0]["args"] == {"drugs": query}
    assert suggestions[1]["args"] is None
    assert suggestions[0]["score"] > suggestions[1]["score"]
    assert suggestions[0]["reason"].startswith("matched: check, drug, interactions")
    assert 0 < suggestions[0]["score"] < 1
    assert drug_interactions.invoke(suggestions[0]["args"]).startswith("no known interactions")


async def test_user_tool_without_readable_args_keeps_args_none() -> None:
    suggestions = await ToolSuggester().asuggest("dose table for ibuprofen", ALL_TOOLS)
    assert [(s["name"], s["args"]) for s in suggestions] == [("dose_table", None)]


async def test_custom_keywords() -> None:
    suggester = ToolSuggester(keywords={"drug_interactions": "warfarin"})
    suggestions = await suggester.asuggest("aspirin with warfarin", ALL_TOOLS)
    assert [s["name"] for s in suggestions] == ["drug_interactions"]


async def test_suggested_args_run_the_tools() -> None:
    tools = {t.name: t for t in ALL_TOOLS}
    for query in [
        "what is 2 ** 8",
        "convert 5 km to miles",
        "look up asthma",
        "what date is 30 days after 2024-05-01",
        "bmi for 80 kg and 180 cm",
    ]:
        top = (await ToolSuggester().asuggest(query, ALL_TOOLS))[0]
        assert await tools[top["name"]].ainvoke(top["args"])

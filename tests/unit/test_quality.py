from typing import Any

import pytest

from parallel_tiers.services.content import LIST_INTRODUCTION, RESTATEMENT
from parallel_tiers.services.generation import ExtractiveChatModel, build_messages
from parallel_tiers.services.quality import ASPECT_MISSED_FACTOR, WEIGHTS, QualityScorer

RELEVANT: list[dict[str, Any]] = [
    {
        "id": "ckd",
        "title": "Chronic kidney disease",
        "source": "renal-guide",
        "content": (
            "Chronic kidney disease is staged by the estimated glomerular filtration rate and "
            "albuminuria. ACE inhibitors slow the progression of chronic kidney disease with "
            "albuminuria. Potassium and creatinine are checked one to two weeks after starting "
            "an ACE inhibitor."
        ),
        "score": 3.0,
    },
    {
        "id": "aki",
        "title": "Acute kidney injury",
        "source": "renal-guide",
        "content": (
            "Acute kidney injury is a sudden fall in kidney function over hours or days. "
            "Nephrotoxic drugs such as NSAIDs should be stopped."
        ),
        "score": 1.5,
    },
]
UNRELATED: list[dict[str, Any]] = [
    {
        "id": "eczema",
        "title": "Atopic eczema",
        "source": "derm-guide",
        "content": (
            "Atopic eczema causes itchy, dry skin. Emollients should be used every day. "
            "Topical corticosteroids treat flares."
        ),
        "score": 2.0,
    },
    {
        "id": "otitis",
        "title": "Otitis media",
        "source": "ent-guide",
        "content": "Acute otitis media usually resolves within three days without antibiotics.",
        "score": 1.0,
    },
]
QUERY = "How do ACE inhibitors affect chronic kidney disease progression?"
RANGED = ("groundedness", "citation_precision", "query_coverage", "evidence_relevance")


def _generate(docs: list[dict[str, Any]]) -> str:
    messages = build_messages(QUERY, docs, system_prompt="You are a nephrologist.")
    return str(ExtractiveChatModel().invoke(messages).content)


def _check_ranges(score: float | None, metrics: dict[str, Any]) -> None:
    assert score is not None
    assert 0.0 <= score <= 1.0
    for key in RANGED:
        assert metrics[key] is None or 0.0 <= metrics[key] <= 1.0, key
    expected = sum(w * (metrics[k] or 0.0) for k, w in WEIGHTS.items())
    expected *= metrics["informativeness"]
    if metrics["topicality"] is not None:
        expected *= metrics["topicality"]
    if metrics["aspect_addressed"] is False:
        expected *= ASPECT_MISSED_FACTOR
    assert score == pytest.approx(expected, abs=1e-3)


async def test_grounded_answer_beats_unrelated_passages() -> None:
    scorer = QualityScorer()
    good_answer = _generate(RELEVANT)
    good, good_metrics = await scorer.ascore(QUERY, good_answer, RELEVANT)
    bad_answer = _generate(UNRELATED)
    bad, bad_metrics = await scorer.ascore(QUERY, bad_answer, UNRELATED)
    _check_ranges(good, good_metrics)
    _check_ranges(bad, bad_metrics)
    assert good is not None and bad is not None
    assert good >= 0.8
    assert good - bad >= 0.5
    assert good_metrics["groundedness"] == 1.0
    assert good_metrics["citation_precision"] == 1.0
    assert good_metrics["evidence_relevance"] > bad_metrics["evidence_relevance"]
    assert good_metrics["cited_sentences"] == good_metrics["answer_sentences"] >= 1
    assert good_metrics["unsupported_claims"] == []


async def test_not_found_answer_scores_low() -> None:
    score, metrics = await QualityScorer().ascore(
        QUERY, "I could not find this in the available sources.", RELEVANT
    )
    _check_ranges(score, metrics)
    assert score is not None and score < 0.2
    assert metrics["groundedness"] == 0.0
    assert metrics["citation_precision"] is None
    assert metrics["cited_sentences"] == 0


async def test_fabricated_and_broken_citations_lower_the_metrics() -> None:
    answer = (
        "ACE inhibitors slow the progression of chronic kidney disease with albuminuria [1]. "
        "ACE inhibitors reverse kidney failure completely within a month [1]. "
        "Potassium is checked after starting an ACE inhibitor [9]."
    )
    score, metrics = await QualityScorer().ascore(QUERY, answer, RELEVANT)
    _check_ranges(score, metrics)
    assert metrics["answer_sentences"] == 3
    assert metrics["cited_sentences"] == 3
    assert metrics["groundedness"] == pytest.approx(1 / 3, abs=1e-3)
    assert metrics["citation_precision"] == pytest.approx(1 / 3, abs=1e-3)
    assert metrics["unsupported_claims"] == [
        "ACE inhibitors reverse kidney failure completely within a month.",
        "Potassium is checked after starting an ACE inhibitor.",
    ]


async def test_query_coverage_is_measured() -> None:
    partial = "Acute kidney injury is a sudden fall in kidney function over hours or days [2]."
    _, metrics = await QualityScorer().ascore(QUERY, partial, RELEVANT)
    assert 0.0 < metrics["query_coverage"] < 1.0
    assert metrics["groundedness"] == 1.0


@pytest.mark.parametrize("answer", ["", "   ", "[1]"])
async def test_empty_answer(answer: str) -> None:
    score, metrics = await QualityScorer().ascore(QUERY, answer, RELEVANT)
    assert score is None
    assert metrics["reason"] == "empty answer"


async def test_topic_words_leave_the_question_type_out() -> None:
    # A faithful quote from a passage on another disease's causes shares "causes" with the
    # question, not its topic: no coverage, no relevance.
    other = [{"id": "x", "title": "Gout (causes)", "source": "s", "score": 1.0,
              "content": "Gout is caused by uric acid crystals in a joint."}]  # fmt: skip
    answer = "Gout is caused by uric acid crystals in a joint [1]."
    score, metrics = await QualityScorer().ascore("What causes anemia?", answer, other)
    _check_ranges(score, metrics)
    assert metrics["groundedness"] == 1.0
    assert metrics["query_coverage"] == metrics["evidence_relevance"] == 0.0
    on_topic, _ = await QualityScorer().ascore("What causes gout?", answer, other)
    assert on_topic == 1.0 and score == 0.0


def test_every_metric_is_documented_with_its_range() -> None:
    import parallel_tiers.services.quality as quality

    doc = quality.__doc__ or ""
    fields = (*RANGED, "answer_sentences", "cited_sentences", "unsupported_claims", "reason",
              "informativeness", "topicality", "aspect", "aspect_addressed", "missing",
              "empty_sentences")  # fmt: skip
    for field in fields:
        assert f"\n{field} " in doc, field


# Issue 16: the README's Marfan answers scored 1.00 while saying nothing.
MARFAN_SYMPTOMS = [
    {
        "id": "GARD_0003608_Sec2",
        "title": "Marfan syndrome (symptoms)",
        "source": "GARD",
        "score": 1.0,
        "content": (
            "The Human Phenotype Ontology provides the following list of signs and symptoms "
            "for Marfan syndrome. Signs and Symptoms Approximate number of patients "
            "Arachnodactyly 90% Dilatation of the ascending aorta 90% Disproportionate tall "
            "stature 90% Ectopia lentis 50% Pectus excavatum 50%. These are common symptoms "
            "of Marfan syndrome."
        ),
    }
]
MARFAN_TESTS = [
    {
        "id": "GHR_0000639_Sec5",
        "title": "Marfan syndrome (exams and tests)",
        "source": "GHR",
        "score": 1.0,
        "content": (
            "Marfan syndrome is diagnosed with the Ghent criteria, an echocardiogram of the "
            "aortic root and an eye examination with a slit lamp."
        ),
    }
]
SYMPTOMS_Q = "What are the symptoms of Marfan syndrome?"


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("The Human Phenotype Ontology provides the following list of signs and symptoms for "
         "Marfan syndrome [1].", LIST_INTRODUCTION),
        ("These are common symptoms of Marfan syndrome [1].", RESTATEMENT),
    ],
    ids=["list-introduction", "restatement"],
)  # fmt: skip
async def test_an_answer_that_says_nothing_scores_zero_and_says_why(
    answer: str, reason: str
) -> None:
    score, metrics = await QualityScorer().ascore(SYMPTOMS_Q, answer, MARFAN_SYMPTOMS)
    _check_ranges(score, metrics)
    assert metrics["groundedness"] == 1.0, "a faithful quote..."
    assert score == 0.0, "...that says nothing"
    assert metrics["informativeness"] == 0.0
    assert [e["reason"] for e in metrics["empty_sentences"]] == [reason]
    assert "1 of 1 sentences say nothing" in metrics["missing"]


async def test_a_list_introduction_followed_by_its_items_counts() -> None:
    answer = (
        "The Human Phenotype Ontology provides the following list of signs and symptoms for "
        "Marfan syndrome [1]. Arachnodactyly 90% Dilatation of the ascending aorta 90% "
        "Disproportionate tall stature 90% [1]."
    )
    score, metrics = await QualityScorer().ascore(SYMPTOMS_Q, answer, MARFAN_SYMPTOMS)
    _check_ranges(score, metrics)
    assert metrics["informativeness"] == 1.0 and metrics["empty_sentences"] == []
    assert metrics["aspect"] == "symptoms" and metrics["aspect_addressed"] is True
    assert score is not None and score > 0.9


async def test_the_wrong_aspect_of_the_right_topic_is_named_and_halves_the_score() -> None:
    answer = (
        "Marfan syndrome is diagnosed with the Ghent criteria, an echocardiogram of the aortic "
        "root and an eye examination with a slit lamp [1]."
    )
    treated, metrics = await QualityScorer().ascore(
        "How is Marfan syndrome treated?", answer, MARFAN_TESTS
    )
    _check_ranges(treated, metrics)
    assert metrics["aspect"] == "treatment" and metrics["aspect_addressed"] is False
    assert "the asked aspect (treatment) is not addressed" in metrics["missing"]
    diagnosed, right = await QualityScorer().ascore(
        "How is Marfan syndrome diagnosed?", answer, MARFAN_TESTS
    )
    assert right["aspect_addressed"] is True and right["missing"] == []
    assert treated == pytest.approx(ASPECT_MISSED_FACTOR * (diagnosed or 0), abs=1e-3)


async def test_a_general_question_asks_for_no_aspect() -> None:
    answer = "Marfan syndrome is diagnosed with the Ghent criteria [1]."
    _, metrics = await QualityScorer().ascore("What is Marfan syndrome?", answer, MARFAN_TESTS)
    assert metrics["aspect"] is None and metrics["aspect_addressed"] is None

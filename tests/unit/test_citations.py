import time
from typing import Any

from parallel_tiers.services.citations import (
    CitationExtractor,
    answer_sentences,
    check_support,
    extract_citations,
    unsupported_claims,
)

ASTHMA = (
    "Asthma is a chronic inflammatory disease of the airways. Inhaled corticosteroids are the "
    "mainstay of long-term asthma control. Short-acting beta agonists such as salbutamol relieve "
    "acute symptoms within minutes. Patients should use a spacer with a metered-dose inhaler."
)
SEPSIS = (
    "Sepsis is a life-threatening organ dysfunction caused by a dysregulated response to "
    "infection. Broad-spectrum antibiotics should be started within one hour of recognition. "
    "Blood cultures are taken before antibiotics whenever this causes no delay."
)
DOCS: list[dict[str, Any]] = [
    {"id": "asthma", "title": "Asthma care", "source": "resp", "content": ASTHMA, "score": 2.0},
    {"id": "sepsis", "title": "Sepsis bundle", "source": "icu", "content": SEPSIS, "score": 1.0},
]


# ---------------------------------------------------------------------------------- support


def test_verbatim_quote_is_supported() -> None:
    ok, strength = check_support(
        "Inhaled corticosteroids are the mainstay of long-term asthma control.", ASTHMA
    )
    assert ok
    assert strength >= 0.95


def test_paraphrase_with_the_same_content_words_is_supported() -> None:
    ok, strength = check_support(
        "Salbutamol, a short-acting beta agonist, relieves acute asthma symptoms.", ASTHMA
    )
    assert ok
    assert 0.7 <= strength <= 1.0


def test_fabricated_claim_is_not_supported() -> None:
    ok, strength = check_support("Asthma is cured by a ten-day course of antibiotics.", ASTHMA)
    assert not ok
    assert 0.0 <= strength < 0.9


def test_claim_from_another_passage_is_not_supported() -> None:
    claim = "Broad-spectrum antibiotics should be started within one hour of recognition."
    assert check_support(claim, SEPSIS)[0]
    assert not check_support(claim, ASTHMA)[0]


def test_degenerate_inputs() -> None:
    assert check_support("", ASTHMA) == (False, 0.0)
    assert check_support("It is.", ASTHMA) == (False, 0.0)  # no content words
    assert check_support("Asthma is chronic.", "") == (False, 0.0)
    # a short passage must not "support" a long claim that merely contains it
    long_claim = "Asthma care involves daily antibiotics and surgery for most patients."
    assert not check_support(long_claim, "Asthma care")[0]


def test_support_is_fast() -> None:
    passage = " ".join((ASTHMA + " " + SEPSIS).split()[:150])
    claims = [f"Inhaled corticosteroids control asthma in case {i}." for i in range(500)]
    start = time.perf_counter()
    for claim in claims:
        check_support(claim, passage)
    assert (time.perf_counter() - start) / len(claims) < 0.001


# ---------------------------------------------------------------------------------- extraction


def test_extracts_one_citation_per_marker_and_sentence() -> None:
    answer = (
        "Inhaled corticosteroids are the mainstay of long-term asthma control [1]. "
        "Broad-spectrum antibiotics should be started within one hour of recognition [2]."
    )
    citations = extract_citations(answer, DOCS)
    assert citations == [
        {
            "index": 1,
            "document_id": "asthma",
            "title": "Asthma care",
            "quote": "Inhaled corticosteroids are the mainstay of long-term asthma control.",
            "supported": True,
        },
        {
            "index": 2,
            "document_id": "sepsis",
            "title": "Sepsis bundle",
            "quote": "Broad-spectrum antibiotics should be started within one hour of recognition.",
            "supported": True,
        },
    ]


def test_out_of_range_markers() -> None:
    citations = extract_citations("Asthma is a chronic inflammatory disease [0][99].", DOCS)
    assert [(c["index"], c["document_id"], c["title"], c["supported"]) for c in citations] == [
        (0, None, None, False),
        (99, None, None, False),
    ]


def test_repeated_marker_counts_once_per_sentence() -> None:
    answer = "Asthma is a chronic inflammatory disease of the airways [1][1]. Salbutamol helps [1]."
    citations = extract_citations(answer, DOCS)
    assert [c["index"] for c in citations] == [1, 1]
    assert citations[0]["quote"] != citations[1]["quote"]


def test_two_different_markers_in_one_sentence() -> None:
    answer = "Asthma is a chronic inflammatory disease of the airways [1][2]."
    citations = extract_citations(answer, DOCS)
    assert [(c["index"], c["supported"]) for c in citations] == [(1, True), (2, False)]


def test_markers_after_the_full_stop_belong_to_the_sentence_before() -> None:
    answer = (
        "Inhaled corticosteroids are the mainstay of long-term asthma control. [1] "
        "Blood cultures are taken before antibiotics.[2]"
    )
    sentences = answer_sentences(answer)
    assert [s.markers for s in sentences] == [[1], [2]]
    assert all(c["supported"] for c in extract_citations(answer, DOCS))


def test_a_marker_closing_a_claim_ends_it_where_pysbd_does_not() -> None:
    # pysbd keeps "...control [1].) - Broad-spectrum ..." as one sentence; two claims it is.
    answer = (
        "(Inhaled corticosteroids are the mainstay of long-term asthma control [1].) - "
        "Broad-spectrum antibiotics should be started within one hour of recognition [2]."
    )
    sentences = answer_sentences(answer)
    assert [s.markers for s in sentences] == [[1], [2]]
    assert all(c["supported"] for c in extract_citations(answer, DOCS))
    # an abbreviation without a marker does not split
    assert len(answer_sentences("Take e.g. salbutamol. Then rest [1].")) == 2


def test_unsupported_claim_citing_a_real_passage() -> None:
    answer = (
        "Inhaled corticosteroids are the mainstay of long-term asthma control [1]. "
        "Asthma attacks are best treated with oral penicillin at home [1]."
    )
    citations = extract_citations(answer, DOCS)
    assert [c["supported"] for c in citations] == [True, False]
    assert unsupported_claims(answer, DOCS) == [
        "Asthma attacks are best treated with oral penicillin at home."
    ]


def test_sentences_without_markers_are_unsupported() -> None:
    answer = "Salbutamol relieves acute symptoms within minutes. See your doctor [3]."
    assert extract_citations(answer, DOCS)[0]["document_id"] is None
    assert unsupported_claims(answer, DOCS) == [
        "Salbutamol relieves acute symptoms within minutes.",
        "See your doctor.",
    ]


def test_empty_answer() -> None:
    assert extract_citations("", DOCS) == []
    assert unsupported_claims("  ", DOCS) == []


async def test_aextract_matches_the_sync_function() -> None:
    answer = "Sepsis is a life-threatening organ dysfunction [2]. Asthma is chronic [1][7]."
    assert await CitationExtractor().aextract(answer, DOCS) == extract_citations(answer, DOCS)

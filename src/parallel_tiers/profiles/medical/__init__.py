"""The medical profile: MedQuAD's question types, the health experts, the health knowledge base.

Everything the package knows about health questions is here (the default profile; switch it
off with `Context(profile="none")` or `PARALLEL_TIERS_PROFILE=none`):

* `QUESTION_TYPES`: MedQuAD's question types (plus the medicine sections of MedlinePlus drug
  pages) with the cue phrases that recognise them in a question, regular expressions over the
  lower-cased text. The cues are generic English phrasings of health questions ("how is X
  treated", "is X inherited", "how common"), not the templates of any one data set. Each
  type's name is also the section label MedQuAD titles carry ("Gout (treatment)").
* `ANSWER_CUES`: the words by which an answer speaks to a type ("1 in 5,000 people" for
  frequency), used by the offline model and the quality scorer.
* `TYPE_WORDS`: words that name a kind of answer rather than give one ("symptoms", "causes");
  `FILLER`: health words that name no fact ("disease", "patient").
* `agents.json`: the 8 bundled experts, and which of MedQuAD's 12 NIH sites each owns
  (`sources`): CancerGov to oncology; GHR (Genetics Home Reference) and GARD (Genetic and
  Rare Diseases) to genetics and rare diseases; NIDDK to digestive, kidney and endocrine;
  NINDS to neurology; NHLBI to heart, lung and blood; MPlusDrugs and MPlusHerbsSuppls
  (MedlinePlus drugs, herbs and supplements) to medicines; CDC to infectious disease;
  NIHSeniorHealth to healthy ageing; and the two general-audience encyclopedias,
  MPlusHealthTopics (MedlinePlus health topics) and ADAM (A.D.A.M. medical encyclopedia), also
  to healthy ageing, whose expert covers general health and wellness (no expert owns those
  broad sites by topic, so the generalist does). The retriever's top passages from an owned
  site are routing evidence for its expert (`agents.AgentRegistry.select`).
* `knowledge_base.jsonl`: the 72-passage health knowledge base the demo answers from when no
  index is given.
"""

from __future__ import annotations

from importlib import resources

from parallel_tiers.profiles.base import Profile
from parallel_tiers.services.question_types import INFORMATION, INFORMATION_CUE, QuestionTypes
from parallel_tiers.services.text import tokenize

QUESTION_TYPES: tuple[tuple[str, str], ...] = (
    ("symptoms", r"\bsymptoms?\b|\bsigns?\b|\bfeel like\b|\bmanifestations?\b"),
    (
        "treatment",
        r"\btreat(?:s|ed|ing|ments?)?\b|\btherap(?:y|ies)\b|\bcur(?:e|es|ed|able)\b"
        r"|\bremed(?:y|ies)\b|\bmanag(?:e|ed|ing|ement)\b",
    ),
    ("genetic changes", r"\bgenetic changes?\b|\bgenes?\b|\bmutations?\b|\bvariants?\b"),
    (
        "inheritance",
        r"\binherit(?:s|ed|ance)?\b|\bhereditary\b|\bpass(?:ed)? (?:on|down)\b"
        r"|\bruns? in (?:the )?famil\w*",
    ),
    ("causes", r"\bcaus(?:e|es|ed|ing)\b|\bwhy (?:do|does|did|is|are)\b|\btriggers?\b"),
    (
        "frequency",
        r"\bhow (?:many|common|often|rare|prevalent)\b|\bprevalence\b|\bincidence\b|\bfrequency\b",
    ),
    (
        "exams and tests",
        r"\bdiagnos(?:e|es|ed|is|ing|tic)\b|\btests?\b|\btesting\b|\bexams?\b|\bexamination\b"
        r"|\bscreen(?:ing)?\b|\bdetect(?:ed)?\b",
    ),
    ("prevention", r"\bprevent(?:s|ed|ing|ion)?\b|\bavoid\b|\breduce (?:the|my|your) risk\b"),
    (
        "outlook",
        r"\boutlook\b|\bprognosis\b|\blife expectancy\b|\bsurviv(?:e|al)\b|\brecover(?:y)?\b",
    ),
    (
        "susceptibility",
        r"\bat risk\b|\brisk factors?\b|\bsusceptib(?:le|ility)\b|\bwho (?:gets|get|is likely)\b",
    ),
    ("research", r"\bresearch\b|\bclinical trials?\b|\bstud(?:y|ies)\b"),
    ("stages", r"\bstag(?:e|es|ing)\b"),
    ("complications", r"\bcomplications?\b"),
    (
        "considerations",
        r"\bconsiderations?\b|\bwhat to do for\b|\bdiet(?:ary)?\b|\beating\b|\bnutrition\b",
    ),
    ("support groups", r"\bsupport groups?\b|\bfind support\b"),
    ("see a doctor", r"\bsee a (?:doctor|health)|\bcall (?:a|your) (?:doctor|health)"),
    ("side effects", r"\bside[- ]effects?\b|\badverse (?:effects?|reactions?)\b"),
    ("dosage", r"\bdos(?:e|es|age|ing)\b|\bhow (?:should|do|to) (?:i )?(?:use|take)\b"),
    ("brand names", r"\bbrand names?\b"),
    ("interactions", r"\binteract(?:s|ion|ions)?\b"),
    ("overdose", r"\boverdose\b|\bemergency\b"),
    ("storage", r"\bstor(?:e|age)\b|\bdispos(?:e|al)\b"),
    ("precautions", r"\bprecautions?\b|\bsafety concerns?\b|\bwarnings?\b"),
    (INFORMATION, INFORMATION_CUE),
)
"""(type, cue regex) pairs, matched against the lower-cased question."""

TYPE_NAMES = frozenset(name for name, _ in QUESTION_TYPES)

ANSWER_CUES: dict[str, str] = {
    "symptoms": r"\bsymptoms?\b|\bsigns?\b|\bfeatures?\b|\bcharacteri[sz]ed by\b|\bexperiences?\b"
    r"|\bpain\b|\bfever\b|\bweakness\b|\bmay (?:have|develop|feel|notice)\b",
    "treatment": r"\btreat\w*|\btherap\w*|\bcur(?:e|es|ed|able)\b|\bmanag\w*"
    r"|\bmedic(?:ine|ation)s?\b|\bdrugs?\b|\bsurg\w*|\btransplant\w*|\brehabilitation\b",
    "genetic changes": r"\bmutat\w*|\bvariants?\b|\bchromosom\w*|\bproteins?\b|\bdeletions?\b"
    r"|\bduplications?\b|\bencod\w*|\binstructions for making\b",
    "inheritance": r"\binherit\w*|\bautosomal\b|\b(?:dominant|recessive)\b|\bx-linked\b"
    r"|\bde novo\b|\bpattern\b|\bpass(?:ed)? (?:on|down)\b|\bhereditary\b|\bfamil(?:y|ies)\b",
    "causes": r"\bcaus\w*|\bresults? (?:from|in)\b|\bdue to\b|\btriggers?\b|\bmutations?\b"
    r"|\brisk\b|\blead(?:s)? to\b|\binfect\w*|\bfactors?\b",
    "frequency": r"\bprevalen\w*|\bincidence\b|\bcommon\b|\brare\b"
    r"|\baffects? (?:about|an|approximately|some|one|\d)|\b\d[\d,.]* (?:in|out of|per) [\d,.]+"
    r"|\bpercent\b|%|\bestimated\b|\bcases?\b|\bfrequen\w*",
    "exams and tests": r"\bdiagnos\w*|\btests?\b|\btesting\b|\bexam\w*|\bscreen\w*|\bimaging\b"
    r"|\bbiops\w*|\bscans?\b|\bx-rays?\b|\bblood\b|\bdetect\w*|\bconfirm\w*",
    "prevention": r"\bprevent\w*|\bavoid\w*|\breduc\w* (?:the|your|their)? ?risk\b|\bvaccin\w*"
    r"|\bprotect\w*|\blower (?:the|your) risk\b",
    "outlook": r"\boutlook\b|\bprognosis\b|\blife expectancy\b|\bsurviv\w*|\brecover\w*"
    r"|\bdepends? on\b|\bprogress\w*|\bfatal\b|\bdeath\b|\blifespan\b|\bnormal life\b",
    "susceptibility": r"\brisk\b|\bmore likely\b|\bsusceptib\w*|\bat higher\b|\bwho (?:are|is)\b"
    r"|\bage\b|\bolder\b|\bwomen\b|\bmen\b",
    "research": r"\bresearch\w*|\bstud(?:y|ies|ying)\b|\btrials?\b|\bscientists?\b|\binvestigat\w*"
    r"|\bfund\w*|\bnih\b|\binstitute\b",
    "stages": r"\bstag(?:e|es|ing)\b|\bspread\b|\bgrade\b",
    "complications": r"\bcomplications?\b|\blead(?:s)? to\b|\bcan cause\b|\brisk of\b",
    "considerations": r"\bdiet\w*|\beat\w*|\bnutrition\w*|\bfoods?\b|\bdrink\w*",
}
"""Answer-side cues of each question type: words by which an answer speaks to it (it may use
others than a question does: a frequency answer says "1 in 5,000 people", not "how common")."""

TYPE_WORDS = frozenset(
    tokenize(
        " ".join(sorted(TYPE_NAMES)) + " sign signs symptom therapy therapies diagnosis "
        "diagnosed test tests cause causes inherited pattern patterns figure figures frequency "
        "prevalence prognosis outlook risk risks factor factors study studies trial trials "
        "effect effects"
    )
)
"""Stemmed words that name a kind of answer rather than give one ("symptoms", "causes")."""

FILLER = frozenset(
    tokenize("condition conditions disease diseases disorder disorders illness patient patients")
)
"""Stemmed health words that name no fact: "These are common symptoms of the disease." says
nothing beyond a question about its symptoms."""

QUESTIONS = QuestionTypes(
    types=QUESTION_TYPES,
    answer_cues=tuple(ANSWER_CUES.items()),
    type_words=TYPE_WORDS,
    filler=FILLER,
)
"""The medical question types."""

PROFILE = Profile(
    name="medical",
    questions=QUESTIONS,
    agents=resources.files(__name__).joinpath("agents.json"),
    knowledge_base=resources.files(__name__).joinpath("knowledge_base.jsonl"),
    description="Health questions: MedQuAD's question types, 8 health experts owning the 12 "
    "NIH sites of MedQuAD, a 72-passage health knowledge base.",
)
"""The medical profile (the default)."""

__all__ = [
    "ANSWER_CUES",
    "FILLER",
    "PROFILE",
    "QUESTIONS",
    "QUESTION_TYPES",
    "TYPE_NAMES",
    "TYPE_WORDS",
]

"""Built-in LangChain tools, argument extraction from plain questions, and tool suggestion.

The tools are real `BaseTool`s that an agent (or a user) can call:

| tool                    | does                                                     |
|-------------------------|----------------------------------------------------------|
| `calculator`            | safe arithmetic on an `ast` whitelist (never `eval`)      |
| `unit_converter`        | unit conversion with `pint`, temperatures included        |
| `date_calculator`       | days between ISO dates, or a date plus/minus N days       |
| `bmi_calculator`        | body mass index with the WHO adult category               |
| `knowledge_base_lookup` | top article titles from a retriever (`make_knowledge_base_lookup`) |

`extract_args` reads a tool's arguments out of a natural-language question with one small regex
extractor per built-in tool, so `ToolSuggester` can offer tools with ready arguments offline.

Each tool lives in a module named for it: `arithmetic` (the calculator), `units`, `dates`, `bmi`
and `lookup`;
the extractors are in `extract`, the suggester in `suggest`, and in `access` the rule of which
tools an expert may use (`allowed_tools`: the registry's, plus the caller's own tools that the
registry reserves for no expert). Every public name is
re-exported here, so ``from parallel_tiers.services.tools import ...`` keeps working.
"""

from __future__ import annotations

from langchain_core.retrievers import BaseRetriever
from langchain_core.tools import BaseTool

from parallel_tiers.services.tools.access import allowed_tools
from parallel_tiers.services.tools.arithmetic import (
    MAX_EXPONENT,
    MAX_EXPRESSION_CHARS,
    MAX_INT_BITS,
    CalculatorInput,
    Number,
    calculate,
    calculator,
    evaluate_expression,
    format_number,
    parse_expression,
)
from parallel_tiers.services.tools.bmi import (
    BMI_CATEGORIES,
    BmiCalculatorInput,
    bmi_calculator,
    bmi_category,
    calculate_bmi,
)
from parallel_tiers.services.tools.dates import DateCalculatorInput, calculate_date, date_calculator
from parallel_tiers.services.tools.extract import EXTRACTORS, extract_args
from parallel_tiers.services.tools.lookup import (
    LOOKUP_TOOL_NAME,
    KnowledgeBaseLookupInput,
    make_knowledge_base_lookup,
)
from parallel_tiers.services.tools.suggest import (
    FALLBACK_WEIGHT,
    PARSED_WEIGHT,
    TOOL_KEYWORDS,
    ToolSuggester,
)
from parallel_tiers.services.tools.units import (
    UNIT_ALIASES,
    UnitConverterInput,
    convert_units,
    resolve_unit,
    unit_converter,
    unit_registry,
)

__all__ = [
    "BMI_CATEGORIES",
    "EXTRACTORS",
    "FALLBACK_WEIGHT",
    "LOOKUP_TOOL_NAME",
    "MAX_EXPONENT",
    "MAX_EXPRESSION_CHARS",
    "MAX_INT_BITS",
    "PARSED_WEIGHT",
    "TOOL_KEYWORDS",
    "UNIT_ALIASES",
    "BmiCalculatorInput",
    "CalculatorInput",
    "DateCalculatorInput",
    "KnowledgeBaseLookupInput",
    "Number",
    "ToolSuggester",
    "UnitConverterInput",
    "allowed_tools",
    "bmi_calculator",
    "bmi_category",
    "calculate",
    "calculate_bmi",
    "calculate_date",
    "calculator",
    "convert_units",
    "date_calculator",
    "default_tools",
    "evaluate_expression",
    "extract_args",
    "format_number",
    "make_knowledge_base_lookup",
    "parse_expression",
    "resolve_unit",
    "unit_converter",
    "unit_registry",
]


def default_tools(retriever: BaseRetriever | None = None) -> list[BaseTool]:
    """Return the built-in tools, plus `knowledge_base_lookup` when a retriever is given."""
    tools = [calculator, unit_converter, date_calculator, bmi_calculator]
    if retriever is not None:
        tools.append(make_knowledge_base_lookup(retriever))
    return tools

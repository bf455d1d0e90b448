"""Runtime context: the per-run settings and the services a run uses.

Pass it as `graph.ainvoke(inputs, context=Context(...))` from Python, or as the run's `context`
JSON from LangGraph Studio and the SDK (plain fields only there). Every service field is
optional: left out, the run uses the embedded offline default (see
`services.wiring.build_services`), built with the run's domain profile (`profile`, see
`parallel_tiers.profiles`).
"""

from __future__ import annotations

import ast
import inspect
import itertools
import os
import textwrap
from dataclasses import Field, dataclass, field, fields
from functools import cached_property, lru_cache
from os import PathLike
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, cast

from langchain_core.language_models import BaseChatModel
from langchain_core.retrievers import BaseRetriever
from langchain_core.tools import BaseTool
from langgraph.store.base import BaseStore
from pydantic import BaseModel, StrictBool, StrictInt, create_model
from pydantic import Field as SettingField
from pydantic_core import core_schema

from parallel_tiers.metrics import TierMetrics, default_metrics
from parallel_tiers.profiles import Profile
from parallel_tiers.resilience import BreakerPolicy, Resilience, default_resilience
from parallel_tiers.services import ENV_AGENTS, ENV_INDEX_PATH, ENV_MODEL, ENV_PROFILE
from parallel_tiers.services.agents import AgentRegistry
from parallel_tiers.services.memory import fallback_store
from parallel_tiers.services.protocols import (
    CitationService,
    CostLedgerLike,
    CostService,
    MemoryStoreLike,
    QualityService,
    ToolSuggesterService,
)
from parallel_tiers.services.wiring import Services, build_services

if TYPE_CHECKING:
    from pydantic import GetCoreSchemaHandler

__all__ = [
    "ENV_AGENTS",
    "ENV_INDEX_PATH",
    "ENV_MODEL",
    "ENV_PROFILE",
    "MAX_TIMEOUT_MS",
    "SETTINGS",
    "SLOTS",
    "Context",
    "SettingsModel",
    "Slot",
    "context_of",
]

MAX_TIMEOUT_MS = 600_000
"""Longest time limit a setting accepts."""

_PATH = (str, PathLike)


def setting(default: bool | float, **limits: float) -> Any:
    """A plain per-run setting: its default and its limits (`gt`, `ge`, `le`, `lt`).

    Its type is its default's (a bool or int is taken strictly); its description is the
    docstring below it. `SettingsModel` (validation, the JSON schema) and `Context.settings()`
    (`metadata["settings"]`) are derived from these declarations.
    """
    return field(default=default, metadata={"setting": limits})


class Slot(NamedTuple):
    """What a service slot takes: `expects` (said by the error of a wrong value), `kinds`."""

    expects: str
    kinds: tuple[type, ...]
    items: type | None = None
    """For a list slot: the kind of its items."""

    def fits(self, value: Any) -> bool:
        """Whether `value` (not None) is one of `kinds` (its items of kind `items`)."""
        listed: Any = value  # not narrowed by the isinstance below
        if not isinstance(value, self.kinds):
            return False
        return self.items is None or all(isinstance(item, self.items) for item in listed)


def slot(expects: str, *kinds: type, items: type | None = None, json: bool = False) -> Any:
    """A service slot: None (the default service) or a value of one of `kinds`.

    Checked by `validation.slot_problems`. A `json` slot also takes a string, so it is shown
    (as a string) in the JSON schema; the server still refuses it from clients unless the
    deployment opts in (`server.py`).
    """
    return field(default=None, metadata={"slot": Slot(expects, kinds, items), "json": json})


@dataclass(kw_only=True)
class Context:
    """Per-run settings and services (LangGraph `context_schema`)."""

    # Plain settings: JSON, shown in Studio, settable by any client, in `metadata["settings"]`.
    enable_parallel_tier1: bool = setting(True)
    """Run the retrieval branches in parallel (False: one after another, same results)."""
    enable_parallel_tier2: bool = setting(True)
    """Run the post-generation branches in parallel (False: one after another)."""
    parallel_timeout_ms: int = setting(5000, gt=0, le=MAX_TIMEOUT_MS)
    """Time limit of each tier branch; past it the branch yields its safe default."""
    retrieval_k: int = setting(5, ge=1, le=100)
    """How many passages `rag_retrieval` returns."""
    circuit_breaker: bool = setting(True)
    """Skip a branch (status `circuit_open`) whose service keeps failing, until a cooldown.
    When breakers open is the deployment's policy (`Resilience.policy`), not a run's."""
    adaptive_timeout: bool = setting(False)
    """Time each branch out at p95 of its recent latencies x `adaptive_timeout_factor`,
    clamped between `adaptive_timeout_floor_ms` and `parallel_timeout_ms`."""
    adaptive_timeout_factor: float = setting(3.0, gt=0)
    """Multiplier of the recent p95 latency in the adaptive timeout."""
    adaptive_timeout_floor_ms: int = setting(50, gt=0)
    """Lowest adaptive timeout."""
    generation_retries: int = setting(2, ge=0, le=10)
    """Retries of a failed model call before the run ends with `error_code`."""
    generation_timeout_ms: int = setting(60_000, gt=0, le=MAX_TIMEOUT_MS)
    """Time limit of generation, retries included; past it the run answers that the model
    timed out (`error_code` `generation_timed_out`) and tier 2 still runs."""
    store_timeout_ms: int = setting(5_000, gt=0, le=MAX_TIMEOUT_MS)
    """Time limit of each store call the package makes outside the tiers (saving a chat turn);
    past it the turn is recorded as not saved (`metadata["save_turn"]`), the answer is kept."""
    max_history_tokens: int = setting(4_000, ge=0, le=1_000_000)
    """Chat modes: most tokens (approximate) of earlier messages sent to the model with a
    question; the oldest turns are left out first."""

    # Service slots: None is the deployment's default. The `json` ones also take a string.
    model: BaseChatModel | str | None = slot(
        'a BaseChatModel or a model string such as "openai:gpt-4o-mini"',
        BaseChatModel,
        str,
        json=True,
    )
    """A LangChain `BaseChatModel`, an `init_chat_model` string ("openai:gpt-4o-mini"), or None
    for the offline extractive model. Env: PARALLEL_TIERS_MODEL."""
    index_path: str | None = slot("the path of an index folder", *_PATH, json=True)
    """Folder of an index built by `parallel-tiers ingest`; None: the profile's knowledge
    base. Env: PARALLEL_TIERS_INDEX."""
    profile: str | Profile | None = slot(
        'a profile name ("medical", "none", "package.module[:NAME]") or a Profile',
        str,
        Profile,
        json=True,
    )
    """The domain profile the default services are built with (`parallel_tiers.profiles`):
    "medical" (MedQuAD's question types, the health experts and knowledge base), "none" (no
    domain knowledge: no question types or section bonus, one general expert, no bundled
    knowledge base), "package.module[:NAME]" naming a `Profile`, or a `Profile` object.
    None: env PARALLEL_TIERS_PROFILE, else "medical"."""
    agents: AgentRegistry | str | None = slot(
        "an AgentRegistry or the path of a registry JSON file", AgentRegistry, *_PATH, json=True
    )
    """An `AgentRegistry`, or the path of a registry JSON file; None: the profile's experts.
    Env: PARALLEL_TIERS_AGENTS."""
    retriever: BaseRetriever | None = slot("a LangChain BaseRetriever", BaseRetriever)
    """Any LangChain `BaseRetriever`; overrides `index_path`."""
    tools: list[BaseTool] | None = slot(
        "a list of LangChain BaseTools", list, tuple, items=BaseTool
    )
    """A list of LangChain `BaseTool`s; None: the built-in tools."""
    memory_store: BaseStore | MemoryStoreLike | None = slot(
        "a LangGraph BaseStore", BaseStore, MemoryStoreLike
    )
    """A LangGraph `BaseStore` for memory when the graph has none; None: an in-process store."""
    tool_suggester: ToolSuggesterService | None = slot(
        "an object with `asuggest` (ToolSuggesterService)", ToolSuggesterService
    )
    """Service ranking tools for a query (`services.protocols.ToolSuggesterService`)."""
    quality: QualityService | None = slot(
        "an object with `ascore` (QualityService)", QualityService
    )
    """Service scoring an answer (`services.protocols.QualityService`)."""
    citations: CitationService | None = slot(
        "an object with `aextract` (CitationService)", CitationService
    )
    """Service extracting and checking citations (`services.protocols.CitationService`)."""
    cost: CostService | None = slot("an object with `atrack` (CostService)", CostService)
    """Service pricing a generation (`services.protocols.CostService`)."""
    cost_ledger: CostLedgerLike | None = slot(
        "an object with `add` (CostLedgerLike)", CostLedgerLike
    )
    """Where `cost_tracking` adds each run's `cost_data`, per thread and per tenant: any object
    with `add(cost, *, thread_id, tenant_id)` (`services.protocols.CostLedgerLike`), such as
    `services.cost.CostLedger` (in-process; share one across runs, read it with
    `totals(thread_id=...)` / `totals(tenant_id=...)`). None: nothing is accumulated (each
    run's `cost_data` is still returned)."""
    resilience: Resilience | None = slot("a Resilience", Resilience)
    """Breaker, latency and limiter state (`Resilience`); None: the process-wide one."""
    metrics: TierMetrics | None = slot("a TierMetrics", TierMetrics)
    """Where tier runs are counted (`TierMetrics`); None: the process-wide one."""
    extra: dict[str, Any] = field(default_factory=dict, metadata={"slot": Slot("a dict", (dict,))})
    """Free-form values for your own nodes."""

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        """Pydantic (LangGraph's `get_context_jsonschema`, Studio): the JSON-able fields only.

        The plain settings with their descriptions, limits and defaults, and the `json`
        slots as strings; the service slots, which JSON cannot carry, are left out.
        """
        return core_schema.no_info_after_validator_function(
            lambda model: cls(**dict(model)), handler(_SchemaModel)
        )

    @cached_property
    def services(self) -> Services:
        """The services of this context, defaults filled in (resolved once per context)."""
        return build_services(self)

    @cached_property
    def resilience_state(self) -> Resilience:
        """The resilience state of this context (the process-wide one by default)."""
        return self.resilience or default_resilience()

    @cached_property
    def metrics_recorder(self) -> TierMetrics:
        """The metrics recorder of this context (the process-wide one by default)."""
        return self.metrics or default_metrics()

    def memory_store_for(self, runtime: Any) -> BaseStore:
        """The store memory uses: the graph's, else this context's, else the in-process one."""
        store = getattr(runtime, "store", None) or self.memory_store or fallback_store()
        return cast("BaseStore", store)  # a MemoryStoreLike offers the calls memory makes

    @property
    def breaker_policy(self) -> BreakerPolicy:
        """The deployment's circuit-breaker policy (of `resilience_state`)."""
        return self.resilience_state.policy

    def settings(self) -> dict[str, Any]:
        """The run's settings, as recorded in `metadata["settings"]`.

        Every plain setting, then what the deployment and the `json` slots resolved to.
        """
        return {
            **{name: getattr(self, name) for name in SETTINGS},
            "max_concurrency": self.resilience_state.max_concurrency,
            "model": self.services.model_name,
            "profile": self.services.profile.name,
            "index_path": self.index_path or os.environ.get(ENV_INDEX_PATH) or None,
        }


def _kind(f: Field[Any]) -> Literal["setting", "slot"]:
    if "setting" in f.metadata:
        return "setting"
    if "slot" in f.metadata:
        return "slot"
    raise TypeError(f"Context.{f.name} is declared neither with setting() nor with slot()")


def _attribute_docs(cls: type) -> dict[str, str]:
    """The docstrings under the fields of `cls` (empty when its source cannot be read)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):
        return {}
    body = tree.body[0].body if isinstance(tree.body[0], ast.ClassDef) else []
    docs = {}
    for node, after in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[node.target.id] = " ".join(inspect.cleandoc(after.value.value).split())
    return docs


_FIELDS = {f.name: f for f in fields(Context)}
SETTINGS: tuple[str, ...] = tuple(n for n, f in _FIELDS.items() if _kind(f) == "setting")
"""The plain settings, in declaration order: what any client may set per run."""
SLOTS: dict[str, Slot] = {n: f.metadata["slot"] for n, f in _FIELDS.items() if _kind(f) == "slot"}
"""Each service slot, in declaration order: what it takes."""
_DOCS = _attribute_docs(Context)
_STRICT: dict[type, Any] = {bool: StrictBool, int: StrictInt, float: float}


def _setting_field(name: str) -> tuple[Any, Any]:
    f = _FIELDS[name]
    return _STRICT[type(f.default)], SettingField(
        f.default, description=_DOCS.get(name), **f.metadata["setting"]
    )


SettingsModel: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "ContextSettings",
    __doc__="The plain settings of `Context`.",
    **{name: _setting_field(name) for name in SETTINGS},
)
"""Validation of the plain settings, derived from their declarations in `Context`."""
_SchemaModel: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "Context",
    __base__=SettingsModel,
    __doc__=Context.__doc__,
    **{
        name: (str | None, SettingField(None, description=_DOCS.get(name)))
        for name, f in _FIELDS.items()
        if f.metadata.get("json")
    },
)


def context_of(runtime: Any) -> Context:
    """The run's `Context`, or the defaults when the caller passed none."""
    ctx = getattr(runtime, "context", None)
    if ctx is None:
        return _default_context()
    if isinstance(ctx, dict):  # a caller bypassing LangGraph's coercion
        return Context(**ctx)
    return ctx


@lru_cache(maxsize=1)
def _default_context() -> Context:
    """One shared default context per process, so default services resolve once."""
    return Context()

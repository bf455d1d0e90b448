"""Runtime context: the per-run settings and the services a run uses.

Pass it as `graph.ainvoke(inputs, context=Context(...))` from Python, or as the run's `context`
JSON from LangGraph Studio and the SDK (plain fields only there). Every service field is
optional: left out, the run uses the embedded offline default (see `services.build_services`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langgraph.store.base import BaseStore

    from parallel_tiers.metrics import TierMetrics
    from parallel_tiers.resilience import BreakerPolicy, Resilience
    from parallel_tiers.services import Services

#: Environment variables read when the matching context field is left empty.
ENV_INDEX_PATH = "PARALLEL_TIERS_INDEX"
ENV_MODEL = "PARALLEL_TIERS_MODEL"
ENV_AGENTS = "PARALLEL_TIERS_AGENTS"


@dataclass(kw_only=True)
class Context:
    """Per-run settings and services (LangGraph `context_schema`)."""

    enable_parallel_tier1: bool = True
    """Run the retrieval branches in parallel (False: one after another, same results)."""
    enable_parallel_tier2: bool = True
    """Run the post-generation branches in parallel (False: one after another)."""
    parallel_timeout_ms: int = 5000
    """Time limit of each tier branch; past it the branch yields its safe default."""
    retrieval_k: int = 5
    """How many passages `rag_retrieval` returns."""
    circuit_breaker: bool = True
    """Skip a branch (status `circuit_open`) whose service keeps failing, until a cooldown.
    When breakers open is the deployment's policy (`Resilience.policy`), not a run's."""
    adaptive_timeout: bool = False
    """Time each branch out at p95 of its recent latencies x `adaptive_timeout_factor`,
    clamped between `adaptive_timeout_floor_ms` and `parallel_timeout_ms`."""
    adaptive_timeout_factor: float = 3.0
    """Multiplier of the recent p95 latency in the adaptive timeout."""
    adaptive_timeout_floor_ms: int = 50
    """Lowest adaptive timeout."""
    generation_retries: int = 2
    """Retries of a failed model call before the run ends with `error_code`."""
    generation_timeout_ms: int = 60_000
    """Time limit of generation, retries included; past it the run answers that the model
    timed out (`error_code` `generation_timed_out`) and tier 2 still runs."""
    store_timeout_ms: int = 5_000
    """Time limit of each store call the package makes outside the tiers (saving a chat turn);
    past it the turn is recorded as not saved (`metadata["save_turn"]`), the answer is kept."""
    max_history_tokens: int = 4_000
    """Chat modes: most tokens (approximate) of earlier messages sent to the model with a
    question; the oldest turns are left out first."""
    model: Any = None
    """A LangChain `BaseChatModel`, an `init_chat_model` string ("openai:gpt-4o-mini"), or None
    for the offline extractive model. Env: PARALLEL_TIERS_MODEL."""
    index_path: str | None = None
    """Folder of an index built by `parallel-tiers ingest`; None: the bundled demo knowledge
    base. Env: PARALLEL_TIERS_INDEX."""
    agents: Any = None
    """An `AgentRegistry`, or the path of a registry JSON file; None: the bundled experts.
    Env: PARALLEL_TIERS_AGENTS."""
    retriever: Any = None
    """Any LangChain `BaseRetriever`; overrides `index_path`."""
    tools: Any = None
    """A list of LangChain `BaseTool`s; None: the built-in tools."""
    memory_store: Any = None
    """A LangGraph `BaseStore` for memory when the graph has none; None: an in-process store."""
    tool_suggester: Any = None
    """Service ranking tools for a query (`ToolSuggester` protocol)."""
    quality: Any = None
    """Service scoring an answer (`QualityScorer` protocol)."""
    citations: Any = None
    """Service extracting and checking citations (`CitationExtractor` protocol)."""
    cost: Any = None
    """Service pricing a generation (`CostTracker` protocol)."""
    cost_ledger: Any = None
    """Where `cost_tracking` adds each run's `cost_data`, per thread and per tenant: any object
    with `add(cost, *, thread_id, tenant_id)`, such as `services.cost.CostLedger` (in-process;
    share one across runs, read it with `totals(thread_id=...)` / `totals(tenant_id=...)`).
    None: nothing is accumulated (each run's `cost_data` is still returned)."""
    resilience: Any = None
    """Breaker, latency and limiter state (`Resilience`); None: the process-wide one."""
    metrics: Any = None
    """Where tier runs are counted (`TierMetrics`); None: the process-wide one."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Free-form values for your own nodes."""

    @cached_property
    def services(self) -> Services:
        """The services of this context, defaults filled in (resolved once per context)."""
        from parallel_tiers.services import build_services

        return build_services(self)

    @cached_property
    def resilience_state(self) -> Resilience:
        """The resilience state of this context (the process-wide one by default)."""
        from parallel_tiers.resilience import default_resilience

        return self.resilience or default_resilience()

    @cached_property
    def metrics_recorder(self) -> TierMetrics:
        """The metrics recorder of this context (the process-wide one by default)."""
        from parallel_tiers.metrics import default_metrics

        return self.metrics or default_metrics()

    def memory_store_for(self, runtime: Any) -> BaseStore:
        """The store memory uses: the graph's, else this context's, else the in-process one."""
        from parallel_tiers.services.memory import fallback_store

        return getattr(runtime, "store", None) or self.memory_store or fallback_store()

    @property
    def breaker_policy(self) -> BreakerPolicy:
        """The deployment's circuit-breaker policy (of `resilience_state`)."""
        return self.resilience_state.policy

    def settings(self) -> dict[str, Any]:
        """The plain settings of this run, as recorded in `metadata["settings"]`."""
        return {
            "enable_parallel_tier1": self.enable_parallel_tier1,
            "enable_parallel_tier2": self.enable_parallel_tier2,
            "parallel_timeout_ms": self.parallel_timeout_ms,
            "retrieval_k": self.retrieval_k,
            "circuit_breaker": self.circuit_breaker,
            "adaptive_timeout": self.adaptive_timeout,
            "max_concurrency": self.resilience_state.max_concurrency,
            "generation_timeout_ms": self.generation_timeout_ms,
            "store_timeout_ms": self.store_timeout_ms,
            "max_history_tokens": self.max_history_tokens,
            "model": self.services.model_name,
            "index_path": self.index_path or os.environ.get(ENV_INDEX_PATH) or None,
        }


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

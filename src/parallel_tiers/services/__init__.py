"""Services: one per concern, each replaceable through the runtime `Context`.

| concern     | default (offline)                           | replace with                    |
|-------------|---------------------------------------------|---------------------------------|
| agents      | `agents.AgentRegistry` (bundled experts)    | a registry or a registry file   |
| retrieval   | `retrieval.BM25Retriever` (demo KB / index) | any LangChain `BaseRetriever`   |
| tools       | `tools.default_tools()`, `ToolSuggester`    | a list of `BaseTool`s           |
| memory      | `memory.StoreMemory` on the graph's store   | any LangGraph `BaseStore`       |
| generation  | `generation.ExtractiveChatModel`            | any `BaseChatModel` or a string |
| quality     | `quality.QualityScorer`                     | an object with `ascore`         |
| citations   | `citations.CitationExtractor`               | an object with `aextract`       |
| cost        | `cost.CostTracker` (genai-prices)           | an object with `atrack`         |
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from langchain_core.language_models import BaseChatModel
from langchain_core.retrievers import BaseRetriever
from langchain_core.tools import BaseTool

from parallel_tiers.services.agents import AgentRegistry, load_registry
from parallel_tiers.services.citations import CitationExtractor
from parallel_tiers.services.cost import CostTracker
from parallel_tiers.services.generation import model_name_of, resolve_model
from parallel_tiers.services.memory import StoreMemory
from parallel_tiers.services.quality import QualityScorer
from parallel_tiers.services.retrieval import default_retriever
from parallel_tiers.services.tools import ToolSuggester, default_tools

if TYPE_CHECKING:
    from parallel_tiers.context import Context


@dataclass
class Services:
    """The resolved services of a run."""

    agents: AgentRegistry
    retriever: BaseRetriever
    tools: dict[str, BaseTool]
    tool_suggester: Any
    memory: StoreMemory
    memory_store: Any
    model_spec: Any
    quality: Any
    citations: Any
    cost: Any
    brought: dict[str, Any]
    """The services the context brought, by slot (`retriever`, `model`, ...): the rest are the
    deployment's defaults. Breakers and latencies of a brought service are its own."""
    _model: BaseChatModel | None = None

    @property
    def model(self) -> BaseChatModel:
        """The chat model, created on first use (a provider model needs its API key then)."""
        if self._model is None:
            self._model = resolve_model(self.model_spec)
        return self._model

    @property
    def model_name(self) -> str:
        """The model's name as used for pricing (no model is created for it)."""
        if isinstance(self.model_spec, BaseChatModel):
            return model_name_of(self.model_spec)
        return str(self.model_spec or "local:extractive")


def build_services(ctx: Context) -> Services:
    """Resolve a context's services, filling the embedded defaults in."""
    from parallel_tiers.context import ENV_AGENTS, ENV_INDEX_PATH, ENV_MODEL

    agents = ctx.agents
    if not isinstance(agents, AgentRegistry):
        agents = load_registry(agents or os.environ.get(ENV_AGENTS) or None)
    retriever = ctx.retriever
    if retriever is None:
        index_path = ctx.index_path or os.environ.get(ENV_INDEX_PATH) or None
        retriever = default_retriever(index_path)
    tools = ctx.tools if ctx.tools is not None else default_tools(retriever)
    slots = ("retriever", "tool_suggester", "memory_store", "quality", "citations", "cost")
    brought = {slot: getattr(ctx, slot) for slot in slots if getattr(ctx, slot) is not None}
    if isinstance(ctx.model, BaseChatModel):
        brought["model"] = ctx.model
    return Services(
        agents=agents,
        retriever=retriever,
        tools={t.name: t for t in tools},
        tool_suggester=ctx.tool_suggester or ToolSuggester(),
        memory=StoreMemory(),
        memory_store=ctx.memory_store,
        model_spec=ctx.model or os.environ.get(ENV_MODEL) or None,
        quality=ctx.quality or QualityScorer(),
        citations=ctx.citations or CitationExtractor(),
        cost=ctx.cost or CostTracker(),
        brought=brought,
    )

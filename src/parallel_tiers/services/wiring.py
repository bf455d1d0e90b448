"""The wiring of a run's services: `build_services` resolves a `Context`'s slots.

Every slot the context leaves empty is filled with the embedded default, built with the run's
profile (see `parallel_tiers.services` for the table of slots and defaults).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from langchain_core.language_models import BaseChatModel
from langchain_core.retrievers import BaseRetriever
from langchain_core.tools import BaseTool

from parallel_tiers.profiles import Profile, load_profile
from parallel_tiers.services import ENV_AGENTS, ENV_INDEX_PATH, ENV_MODEL
from parallel_tiers.services.agents import AgentRegistry, load_registry, profile_registry
from parallel_tiers.services.citations import CitationExtractor
from parallel_tiers.services.cost import CostTracker
from parallel_tiers.services.generation import model_name_of, resolve_model
from parallel_tiers.services.memory import StoreMemory
from parallel_tiers.services.protocols import (
    CitationService,
    CostService,
    QualityService,
    ToolSuggesterService,
)
from parallel_tiers.services.quality import QualityScorer
from parallel_tiers.services.retrieval import default_retriever
from parallel_tiers.services.tools import ToolSuggester, default_tools

if TYPE_CHECKING:
    from parallel_tiers.context import Context


@dataclass
class Services:
    """The resolved services of a run."""

    profile: Profile
    """The run's domain profile (`Context.profile`): the defaults below were built with it."""
    agents: AgentRegistry
    retriever: BaseRetriever
    tools: dict[str, BaseTool]
    tool_suggester: ToolSuggesterService
    memory: StoreMemory
    model_spec: Any
    quality: QualityService
    citations: CitationService
    cost: CostService
    brought: dict[str, Any]
    """The services the context brought, by slot (`retriever`, `model`, ...): the rest are the
    deployment's defaults. Breakers and latencies of a brought service are its own."""
    _model: BaseChatModel | None = None

    @property
    def model(self) -> BaseChatModel:
        """The chat model, created on first use (a provider model needs its API key then)."""
        if self._model is None:
            self._model = resolve_model(self.model_spec, self.profile.questions)
        return self._model

    @property
    def model_name(self) -> str:
        """The model's name as used for pricing (no model is created for it)."""
        if isinstance(self.model_spec, BaseChatModel):
            return model_name_of(self.model_spec)
        return str(self.model_spec or "local:extractive")


def build_services(ctx: Context) -> Services:
    """Resolve a context's services, filling the embedded defaults in (built with its profile).

    Raises:
        ProfileError: The context (or `PARALLEL_TIERS_PROFILE`) names no profile.
        ValueError: No index and a profile without a knowledge base, or a bad registry file.

    """
    profile = load_profile(ctx.profile)
    agents = ctx.agents
    if not isinstance(agents, AgentRegistry):
        path = agents or os.environ.get(ENV_AGENTS) or None
        agents = load_registry(path) if path else profile_registry(profile)
    retriever = ctx.retriever
    if retriever is None:
        index_path = ctx.index_path or os.environ.get(ENV_INDEX_PATH) or None
        retriever = default_retriever(index_path, profile)
    tools = ctx.tools if ctx.tools is not None else default_tools(retriever)
    slots = ("retriever", "tool_suggester", "memory_store", "quality", "citations", "cost")
    brought = {slot: getattr(ctx, slot) for slot in slots if getattr(ctx, slot) is not None}
    if isinstance(ctx.model, BaseChatModel):
        brought["model"] = ctx.model
    return Services(
        profile=profile,
        agents=agents,
        retriever=retriever,
        tools={t.name: t for t in tools},
        tool_suggester=ctx.tool_suggester or ToolSuggester(),
        memory=StoreMemory(),
        model_spec=ctx.model or os.environ.get(ENV_MODEL) or None,
        quality=ctx.quality or QualityScorer(profile.questions),
        citations=ctx.citations or CitationExtractor(),
        cost=ctx.cost or CostTracker(),
        brought=brought,
    )


__all__ = ["Services", "build_services"]

"""The expert registry: loading agents, looking one up, and ranking them for a query.

Registry file format (JSON)::

    {"default_agent": "healthy_ageing",
     "agents": [{"id": "neurology", "name": "Neurology expert",
                 "description": "Brain, spinal cord and nerve conditions ...",
                 "domains": ["stroke", "migraine", ...],
                 "sources": ["NINDS"],
                 "allowed_tools": ["calculator", "knowledge_base_lookup"],
                 "system_prompt": "You are ..."}]}

`id` (required, unique) is what manual modes take as `agent_id`; `name` and `description` are
required. `domains` and `description` are what automatic modes rank against the question;
`allowed_tools` bounds which tools may ever run for the agent; `system_prompt` defaults to a
generic one. `sources` (optional; files without it still load) lists the passage `source`
values the expert owns: when the retriever's top passages come from an owned source, that is
evidence for the expert (see `AgentRegistry.select`). A source may be owned by one agent only.
`default_agent` (optional) answers when nothing matches.

Nothing here knows a domain: the experts, their terms and which sources they own are data, the
registry file of a profile (`parallel_tiers.profiles`; the medical one's 8 health experts own
the 12 NIH sites of MedQuAD, see `parallel_tiers.profiles.medical`). A profile without one
(`none`) has a single general expert, `GENERIC_AGENT`.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources.abc import Traversable
from os import PathLike
from pathlib import Path
from typing import Any, cast

from parallel_tiers.profiles import Profile, default_profile
from parallel_tiers.services.text import bm25_idf, tokenize

KEYWORD_WEIGHT = 1.0
"""Weight of the domain-match share in `AgentRegistry.select`."""
EVIDENCE_WEIGHT = 2.0
"""Weight of the retrieval-evidence share in `AgentRegistry.select`."""
EVIDENCE_K = 3
"""How many retrieved passages the automatic modes give `select` as evidence."""


class UnknownAgentError(ValueError):
    """An `agent_id` that is not in the registry."""


@dataclass(frozen=True)
class Agent:
    """One expert."""

    id: str
    name: str
    description: str
    domains: tuple[str, ...] = ()
    allowed_tools: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    system_prompt: str = "You are a careful expert assistant."

    def summary(self) -> dict[str, Any]:
        """The fields recorded in `selected_agent`."""
        return {"id": self.id, "name": self.name, "allowed_tools": list(self.allowed_tools)}


@dataclass(frozen=True)
class Selection:
    """The outcome of ranking the registry against a question."""

    agent: Agent
    ranking: list[dict[str, Any]]
    reason: str


@dataclass
class AgentRegistry:
    """A set of experts, addressable by id, rankable against a question."""

    agents: dict[str, Agent]
    default_id: str | None = None
    evidence_k: int = EVIDENCE_K
    """How many retrieved passages `select` should get as evidence."""
    _profiles: dict[str, Counter[str]] = field(init=False, repr=False)
    _idf: dict[str, float] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.agents:
            raise ValueError("agents: the registry needs at least one agent")
        self._profiles = {
            a.id: Counter(tokenize(" ".join(a.domains)) * 2 + tokenize(f"{a.name} {a.description}"))
            for a in self.agents.values()
        }
        df = Counter(t for profile in self._profiles.values() for t in profile)
        n = len(self.agents)
        self._idf = {t: bm25_idf(n, c) for t, c in df.items()}

    @classmethod
    def from_agents(cls, agents: Iterable[Agent], default_id: str | None = None) -> AgentRegistry:
        """Build a registry from `Agent`s (ids must be unique)."""
        by_id: dict[str, Agent] = {}
        owners: dict[str, str] = {}
        for agent in agents:
            if agent.id in by_id:
                raise ValueError(f"agents: duplicate agent id {agent.id!r}")
            by_id[agent.id] = agent
            for source in agent.sources:
                if source in owners:
                    raise ValueError(
                        f"agents: source {source!r} is owned by both {owners[source]!r} "
                        f"and {agent.id!r}"
                    )
                owners[source] = agent.id
        return cls(by_id, default_id=default_id)

    @classmethod
    def from_file(cls, path: str | Path) -> AgentRegistry:
        """Load a registry JSON file (format in this module's docstring)."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls.from_mapping(data, origin=str(path))

    @classmethod
    def from_mapping(cls, data: dict[str, Any], origin: str = "registry") -> AgentRegistry:
        """Build a registry from parsed JSON."""
        rows = data.get("agents") if isinstance(data, dict) else None
        if not isinstance(rows, list):
            raise ValueError(f"{origin}: expected an object with an 'agents' list")
        agents = []
        for i, row in enumerate(rows):
            missing = [k for k in ("id", "name", "description") if not row.get(k)]
            if missing:
                raise ValueError(f"{origin}: agents[{i}] lacks {', '.join(missing)}")
            agents.append(
                Agent(
                    id=str(row["id"]),
                    name=str(row["name"]),
                    description=str(row["description"]),
                    domains=tuple(row.get("domains", ())),
                    allowed_tools=tuple(row.get("allowed_tools", ())),
                    sources=tuple(str(x) for x in row.get("sources", ())),
                    system_prompt=str(row.get("system_prompt") or Agent.system_prompt),
                )
            )
        return cls.from_agents(agents, default_id=data.get("default_agent"))

    @property
    def ids(self) -> list[str]:
        """The registered agent ids, sorted."""
        return sorted(self.agents)

    def get(self, agent_id: str) -> Agent:
        """The agent with this id, or an `UnknownAgentError` listing the known ids."""
        try:
            return self.agents[agent_id]
        except KeyError:
            raise UnknownAgentError(
                f"agent_id: unknown agent {agent_id!r}; known agents: {', '.join(self.ids)}"
            ) from None

    def source_owners(self) -> dict[str, str]:
        """Each owned passage `source`, mapped to the id of the agent owning it."""
        return {source: a.id for a in self.agents.values() for source in a.sources}

    @property
    def uses_sources(self) -> bool:
        """Whether any agent owns a source (else retrieval evidence cannot change a choice)."""
        return any(a.sources for a in self.agents.values())

    def select(
        self,
        query: str,
        history: Sequence[str] = (),
        evidence: Sequence[Mapping[str, Any]] = (),
    ) -> Selection:
        """Rank every agent against the question, its earlier turns and retrieval evidence.

        Two shares, each summing to 1 over the agents, are added:

        * domain match, weight `KEYWORD_WEIGHT`: sum over the question's content words of idf x
          term weight in the agent's profile (domains count twice, name and description once);
          earlier turns count half;
        * evidence, weight `EVIDENCE_WEIGHT`: the passages retrieved for the question
          (`rag_results`-like mappings with `source`, best first), the passage at rank r
          counting 1/r for the agent owning its source; passages from sources nobody owns
          count for nobody but stay in the total, so weak evidence weighs little.

        The ranking's `score` is each agent's share of the sum (the shares add up to 1),
        `raw` its domain match and `evidence` its evidence share. With neither a domain match
        nor owned evidence, the registry's `default_agent` (else the first agent) answers, and
        the reason says so.
        """
        raw, matched = self._domain_match(query, history)
        keyword_total = sum(raw.values())
        owned, evidence_share = self._evidence(evidence)
        combined = {
            a: KEYWORD_WEIGHT * (raw[a] / keyword_total if keyword_total else 0.0)
            + EVIDENCE_WEIGHT * evidence_share.get(a, 0.0)
            for a in self.agents
        }
        total = sum(combined.values())
        order = sorted(combined, key=lambda a: (-combined[a], a))
        ranking: list[dict[str, Any]] = [
            {
                "agent_id": a,
                "score": round(combined[a] / total, 4) if total else 0.0,
                "raw": round(raw[a], 4),
                "evidence": round(evidence_share.get(a, 0.0), 4),
            }
            for a in order
        ]
        if total == 0:
            fallback = self.default_id or next(iter(self.agents))
            reason = f"no domain terms matched the question; fell back to {fallback!r}"
            return Selection(self.agents[fallback], ranking, reason)
        best = order[0]
        parts = [f"best combined match ({ranking[0]['score']:.0%} of total)"]
        if matched[best]:
            parts.append(f"matched: {', '.join(sorted(matched[best])[:6])}")
        if owned.get(best):
            parts.append(f"top passages from {', '.join(owned[best])}")
        return Selection(self.agents[best], ranking, "; ".join(parts))

    def _domain_match(
        self, query: str, history: Sequence[str]
    ) -> tuple[dict[str, float], dict[str, list[str]]]:
        weights: dict[str, float] = {}
        for t in tokenize(query):
            weights[t] = weights.get(t, 0.0) + 1.0
        for turn in history:
            for t in tokenize(turn):
                weights[t] = weights.get(t, 0.0) + 0.5
        raw: dict[str, float] = {}
        matched: dict[str, list[str]] = {}
        for agent_id, profile in self._profiles.items():
            hits = [t for t in weights if t in profile]
            raw[agent_id] = sum(
                weights[t] * self._idf[t] * (1 + math.log(profile[t])) for t in hits
            )
            matched[agent_id] = hits
        return raw, matched

    def _evidence(
        self, evidence: Sequence[Mapping[str, Any]]
    ) -> tuple[dict[str, list[str]], dict[str, float]]:
        owners = self.source_owners()
        weight_total = 0.0
        share: dict[str, float] = {}
        owned: dict[str, list[str]] = {}
        for rank, passage in enumerate(evidence, 1):
            weight = 1.0 / rank
            weight_total += weight
            source = str(passage.get("source") or "")
            owner = owners.get(source)
            if owner is None:
                continue
            share[owner] = share.get(owner, 0.0) + weight
            if source not in owned.setdefault(owner, []):
                owned[owner].append(source)
        if weight_total:
            share = {a: w / weight_total for a, w in share.items()}
        return owned, share


GENERIC_AGENT = Agent(
    id="assistant",
    name="Assistant",
    description="Answers questions from the indexed documents, citing them.",
    allowed_tools=("calculator", "unit_converter", "date_calculator", "knowledge_base_lookup"),
)
"""The one expert of a profile without a registry (the profile `none`)."""


def load_registry(path: str | PathLike[str] | Traversable | None = None) -> AgentRegistry:
    """The registry at `path` (a file, or a profile's bundled one), or the default profile's.

    Cached per path. Without `path`, the registry of `profiles.default_profile()` (the medical
    experts unless `PARALLEL_TIERS_PROFILE` names another profile; see `profile_registry`).
    """
    if path is None or path == "":
        return profile_registry(default_profile())
    return _registry_at(Path(path) if isinstance(path, str | PathLike) else path)


def profile_registry(profile: Profile) -> AgentRegistry:
    """A profile's experts: its registry file, else the single `GENERIC_AGENT`."""
    if profile.agents is None:
        return _generic_registry()
    return _registry_at(profile.agents)


def _registry_at(resource: Traversable) -> AgentRegistry:
    """The registry in `resource` (a `Path`, or a package resource: hashable), cached."""
    return _read_registry(cast(Hashable, resource))


@lru_cache(maxsize=8)
def _read_registry(key: Hashable) -> AgentRegistry:
    resource = cast(Traversable, key)
    origin = str(resource) if isinstance(resource, Path) else resource.name
    data = json.loads(resource.read_text(encoding="utf-8"))
    return AgentRegistry.from_mapping(data, origin=origin)


@lru_cache(maxsize=1)
def _generic_registry() -> AgentRegistry:
    return AgentRegistry.from_agents([GENERIC_AGENT], default_id=GENERIC_AGENT.id)

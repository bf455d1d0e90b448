"""Services: one per concern, each replaceable through the runtime `Context`.

| concern     | default (offline)                           | replace with                    |
|-------------|---------------------------------------------|---------------------------------|
| profile     | `profiles.load_profile` (medical)           | a profile name, or a `Profile`  |
| agents      | `agents.AgentRegistry` (profile's experts)  | a registry or a registry file   |
| retrieval   | `retrieval.BM25Retriever` (profile's KB /   | any LangChain `BaseRetriever`   |
|             | index)                                      |                                 |
| tools       | `tools.default_tools()`, `ToolSuggester`    | a list of `BaseTool`s           |
| memory      | `memory.StoreMemory` on the graph's store   | any LangGraph `BaseStore`       |
| generation  | `generation.ExtractiveChatModel`            | any `BaseChatModel` or a string |
| quality     | `quality.QualityScorer`                     | a `QualityService` (`ascore`)   |
| citations   | `citations.CitationExtractor`               | a `CitationService` (`aextract`)|
| cost        | `cost.CostTracker` (genai-prices)           | a `CostService` (`atrack`)      |

The slots' protocols are in `services.protocols`; `Context` declares the slots.

`wiring.build_services` resolves a context's services (`wiring.Services`). This package
module holds only the environment variables' names, and imports nothing, so a profile can be
built from the generic services (`question_types`, `text`) without importing those that
use profiles. The default services are built with the run's profile (`Context.profile`, else
`PARALLEL_TIERS_PROFILE`, else medical; see `parallel_tiers.profiles`): the retriever, the
offline model and the quality scorer read questions with its question types, and the experts
and the knowledge base are its own unless the context gives others.
"""

#: Environment variables read when the matching context slot is left empty.
ENV_INDEX_PATH = "PARALLEL_TIERS_INDEX"
ENV_MODEL = "PARALLEL_TIERS_MODEL"
ENV_AGENTS = "PARALLEL_TIERS_AGENTS"
ENV_PROFILE = "PARALLEL_TIERS_PROFILE"

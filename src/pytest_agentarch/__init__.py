"""pytest-agentarch: measure how deterministic and correct PydanticAI agent architectures are.

```python
from pytest_agentarch import architecture

@architecture('specialized', description='one agent per tool')
async def specialized(inputs, model):
    ...
```
Run `pytest --arch all --runs 20` to run every dataset case 20 times per architecture.
"""

from .core.stats import ArchitectureStats, CaseStats, Rate
from .plugin.fixture import BoundArchitecture
from .run.capture import call_tool
from .run.context import RunInfo, current_run
from .run.evaluators import TrajectoryRequirements, TrajectorySteps
from .run.registry import Architecture, architecture

__all__ = (
    'Architecture',
    'ArchitectureStats',
    'BoundArchitecture',
    'CaseStats',
    'Rate',
    'RunInfo',
    'TrajectoryRequirements',
    'TrajectorySteps',
    'architecture',
    'call_tool',
    'current_run',
)

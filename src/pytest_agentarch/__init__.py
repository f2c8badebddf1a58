"""pytest-agentarch: measure how deterministic and correct PydanticAI agent architectures are.

```python
from pytest_agentarch import architecture

@architecture('specialized', description='one agent per tool')
async def specialized(inputs, model):
    ...
```
Run `pytest --arch all --runs 20` to run every dataset case 20 times per architecture.
"""

from .capture import call_tool
from .context import RunInfo, current_run
from .evaluators import TrajectorySteps
from .fixture import BoundArchitecture
from .registry import Architecture, architecture
from .stats import ArchitectureStats, CaseStats, Rate

__all__ = (
    'Architecture',
    'ArchitectureStats',
    'BoundArchitecture',
    'CaseStats',
    'Rate',
    'RunInfo',
    'TrajectorySteps',
    'architecture',
    'call_tool',
    'current_run',
)

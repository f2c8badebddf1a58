"""Six reference architectures for K8s anomaly detection, registered with pytest-agentarch on import.

Importing this package registers `specialized`, `single`, `workflow`, `manual`, `hybrid` and `delegation`; each
serves the `k8s_anomaly` dataset (`evals/k8s_anomaly.yaml`) and returns an `AnomalyReport`. They share the tools
(`architectures.tools`), the telemetry (`architectures.telemetry`) and the workflow (`architectures.common`).
"""

from architectures import delegation, hybrid, manual, single, specialized, workflow

__all__ = ('delegation', 'hybrid', 'manual', 'single', 'specialized', 'workflow')

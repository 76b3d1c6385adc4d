"""Deploy what you plan: a plan as Kubernetes manifests, and manifests back into a plan.

:func:`export_plan` writes engine groups as vLLM/SGLang workloads, NVIDIA Dynamo
DynamoGraphDeployments or llm-d pools, with routing tables per scenario; :func:`import_plan`
reads such a folder back. Needs PyYAML (``pip install 'tenantplan[deploy]'``). ``docs/deploy.md``.
"""

from optimizer.deploy.manifests import FORMATS, ExportOptions, export_plan, require_yaml
from optimizer.deploy.read import import_plan

__all__ = ["FORMATS", "ExportOptions", "export_plan", "import_plan", "require_yaml"]

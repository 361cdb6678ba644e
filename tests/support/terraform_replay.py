"""What ``terraform apply`` sends to a Cloud Run service that a rollout has changed.

The google provider reads the live service into state, keeps the live value of every path the
resource's ``lifecycle.ignore_changes`` names, and writes its configuration for the rest:

* ``labels`` and ``annotations`` are non-authoritative in provider 5+ (only the keys the
  configuration sets are managed; the others stay as they are);
* ``custom_audiences`` and the service-level ``scaling`` are written as configured;
* the ``template`` is written from the configuration (as tfparse evaluates it: dynamic
  blocks, such as ``env``, are not expanded, so a template Terraform writes carries none)
  unless ``ignore_changes`` covers it, path by path.

:func:`terraform_update` builds that service so a test can send it to the double and see
whether Cloud Run would accept it. The ``ignore_changes`` list is parsed from the module.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import hcl2
from google.cloud import run_v2
from google.protobuf import json_format

from tests.support.terraform_env import TerraformService

__all__ = ["MODULE", "api_path", "ignored_paths", "steps", "terraform_update"]

MODULE = Path(__file__).resolve().parents[2] / "terraform" / "modules" / "cloud-run-service"
_REPEATED = {"containers", "ports", "env", "volumes", "volumeMounts"}
_STEP = re.compile(r'([A-Za-z_]+)|\[(\d+)\]|\["([^"]+)"\]')


def ignored_paths(module: Path = MODULE) -> list[str]:
    """``ignore_changes`` of the module's google_cloud_run_v2_service, as written."""
    source = hcl2.loads((module / "main.tf").read_text())
    for resource in source["resource"]:
        service = resource.get('"google_cloud_run_v2_service"', {}).get('"service"')
        if service is not None:
            entries = service["lifecycle"][0]["ignore_changes"]
            return [entry.removeprefix("${").removesuffix("}") for entry in entries]
    msg = f"no google_cloud_run_v2_service in {module}"
    raise LookupError(msg)


def steps(path: str) -> list[str | int]:
    """``template[0].containers[0].image`` → ``["template", 0, "containers", 0, "image"]``."""
    out: list[str | int] = []
    for name, index, key in _STEP.findall(path):
        out.append(name or key if not index else int(index))
    return out


def api_path(path: str) -> tuple[str | int, ...]:
    """An ``ignore_changes`` path as an Admin API JSON path.

    ``template[0].containers[0].image`` → ``("template", "containers", 0, "image")``: the
    template is one block in Terraform and an object in the API; names are camelCase.
    """
    out: list[str | int] = []
    for step in steps(path):
        if isinstance(step, int) and out and out[-1] == "template":
            continue
        out.append(_camel(step))
    return tuple(out)


def terraform_update(
    declared: TerraformService, live: run_v2.Service, ignored: Sequence[str]
) -> run_v2.Service:
    """The service Terraform's apply would send, given the live one and ``ignore_changes``."""
    current: dict[str, Any] = json_format.MessageToDict(run_v2.Service.pb(live))
    sent = copy.deepcopy(current)
    fields = dict(declared.fields)
    for merged in ("labels", "annotations"):
        if merged in fields and merged not in ignored:
            sent[merged] = {**current.get(merged, {}), **fields.pop(merged)}
    for name, value in fields.items():
        if name not in ignored:
            sent[name] = value
    if "template" not in ignored:
        template = {"template": _api_json(declared.block["template"])}
        for path in ignored:
            parts = api_path(path)
            if parts[0] == "template":
                _copy_path(current, template, list(parts))
        sent["template"] = template["template"]
    sent.pop("etag", None)  # the provider does not guard its updates with the etag
    result: run_v2.Service = run_v2.Service.deserialize(
        json_format.Parse(json.dumps(sent), run_v2.Service.pb()()).SerializeToString()
    )
    return result


def _api_json(block: Mapping[str, Any]) -> dict[str, Any]:
    """A tfparse block as the Admin API's JSON (camelCase, repeated blocks as lists)."""
    out: dict[str, Any] = {}
    for key, value in block.items():
        if key in {"__tfmeta", "id"} or value is None:
            continue
        name = str(_camel(key))
        if isinstance(value, Mapping) and "__tfmeta" in value:
            converted: Any = _api_json(value)
            out[name] = [converted] if name in _REPEATED else converted
        else:
            out[name] = value
    return out


def _camel(step: str | int) -> str | int:
    if isinstance(step, int):
        return step
    head, *rest = step.split("_")
    return head + "".join(part.title() for part in rest)


def _get(value: Any, step: str | int) -> Any:
    try:
        return value[step]
    except (KeyError, IndexError, TypeError):
        return None


def _copy_path(source: dict[str, Any], target: dict[str, Any], path: list[str | int]) -> None:
    """Copy the value at ``path`` from ``source`` into ``target`` (missing in source: removed)."""
    src: Any = source
    dst: Any = target
    for index, step in enumerate(path[:-1]):
        src = _get(src, step)
        if isinstance(step, int):
            while len(dst) <= step:
                dst.append({})
        elif step not in dst:
            dst[step] = [] if isinstance(path[index + 1], int) else {}
        dst = dst[step]
    last = path[-1]
    value = _get(src, last)
    if isinstance(dst, dict) and isinstance(last, str):
        if value is None:
            dst.pop(last, None)
        else:
            dst[last] = copy.deepcopy(value)

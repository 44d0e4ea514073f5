"""The import fences of pyproject.toml name modules one by one: a module added to channels/
must appear in them, or it would slip past the sandbox and registry fences. And the cycle
check must be able to find a cycle."""

import re
import tomllib
from pathlib import Path

import pytest

from scripts.check_imports import cycles, local_imports

ROOT = Path(__file__).resolve().parents[2]


def _contracts() -> dict[str, dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return {c["name"]: c for c in config["tool"]["importlinter"]["contracts"]}


def _channels_core_modules() -> set[str]:
    found = set()
    for path in (ROOT / "channels").iterdir():
        if path.name in ("__init__.py", "__pycache__", "sandbox", "lanes", "migrations", "demo.py"):
            continue
        if path.suffix == ".py" or (path / "__init__.py").exists():
            found.add(f"channels.{path.stem}")
    return found


def test_the_sandbox_fence_names_every_module_of_ours():
    fence = _contracts()["Sandboxes import nothing of ours outside channels.sandbox"]
    missing = _channels_core_modules() - set(fence["forbidden_modules"])
    assert missing == set()


def test_the_registry_fence_covers_every_core_module():
    fence = _contracts()["The channels core reaches the lanes only through the registry"]
    assert _channels_core_modules() - set(fence["source_modules"]) == set()


def test_every_lane_package_is_in_the_independence_contract():
    lanes = {
        f"channels.lanes.{path.name}"
        for path in (ROOT / "channels" / "lanes").iterdir()
        if (path / "__init__.py").exists()
    }
    independent = set(_contracts()["Each lane is independent of the other lanes"]["modules"])
    assert lanes == independent


class _Graph:
    def __init__(self, edges: dict[str, set[str]]):
        self.edges = edges

    def find_modules_directly_imported_by(self, module: str) -> set[str]:
        return self.edges.get(module, set())


def test_the_cycle_check_finds_a_cycle_and_only_the_cycle():
    graph = _Graph({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})

    assert cycles(graph, ["a", "b", "c", "d"]) == [["a", "b", "c"]]


@pytest.mark.parametrize("reason", ["", "    # needs the app registry\n"])
def test_local_imports_are_found_with_their_reason(tmp_path, reason):
    package = tmp_path / "channels"
    package.mkdir()
    (package / "thing.py").write_text(
        f"import os\n\n\ndef late():\n{reason}    from channels import models\n    return os\n"
    )

    (found,) = local_imports(tmp_path)

    assert found[2] == "channels"
    assert found[3] == reason.strip().lstrip("# ")


# Where a channel kind may be named: its lane, the sandboxes, the demo, the models (the Kind
# choices), migrations and settings. Everywhere else the core asks the registry.
KIND_NAMED = re.compile(r'Kind\.(SHOPIFY|AMAZON)|"(shopify|amazon)"', re.IGNORECASE)
MAY_NAME_A_KIND = ("channels/lanes/", "channels/sandbox/", "channels/demo.py", "channels/models.py")


def test_no_product_module_outside_the_lanes_names_a_channel_kind():
    named = []
    for package in (
        "inventory_sync",
        "access",
        "ledger",
        "allocation",
        "channels",
        "reconciliation",
    ):
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if relative.startswith(MAY_NAME_A_KIND) or "/migrations/" in relative:
                continue
            if relative.startswith("inventory_sync/settings"):
                continue
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                if KIND_NAMED.search(line):
                    named.append(f"{relative}:{number}: {line.strip()}")
    assert named == []


def test_the_kind_check_sees_a_kind_named_in_the_core():
    assert KIND_NAMED.search("    if channel.kind == Channel.Kind.AMAZON:")
    assert KIND_NAMED.search('("shopify", "orders/create"): _shopify_order,')
    assert not KIND_NAMED.search("lane = lane_for_kind(channel.kind)")

"""The apps import one way: api over cards over audit over accounts over client_info, all over the
shared modules and providers (the layers in pyproject.toml's [tool.importlinter], which `make lint`
checks too). Imports inside functions and under TYPE_CHECKING count: they are dependencies all the
same. Failures name each import that points the wrong way, with its file and line."""

from __future__ import annotations

import importlib.util
import itertools
import tomllib
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("cardreveal", "providers")


def contract_layers() -> list[grimp.Layer]:
    """The layers of pyproject.toml's layers contract, top first, as grimp takes them."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["type"] == "layers"]
    layers = []
    for raw in contract["layers"]:
        independent = ":" not in raw
        names = [name.strip() for name in raw.replace(":", "|").split("|")]
        layers.append(grimp.Layer(*names, independent=independent))
    return layers


LAYERS = contract_layers()
LAYERED = sorted(name for layer in LAYERS for name in layer.module_tails)


@pytest.fixture
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, cache_dir=None)


def where(graph: grimp.ImportGraph, importer: str, imported: str) -> str:
    """`path:line (the import statement)` for each place `importer` imports `imported`."""
    spec = importlib.util.find_spec(importer)
    origin = spec.origin if spec and spec.origin else importer
    path = Path(origin).resolve().relative_to(ROOT) if Path(origin).is_absolute() else origin
    places = [
        f"{path}:{detail['line_number']} ({detail['line_contents'].strip()})"
        for detail in graph.get_import_details(importer=importer, imported=imported)
    ]
    return "; ".join(places) or f"{importer} imports {imported}"


def chain_in_words(graph: grimp.ImportGraph, chain: tuple[str, ...]) -> str:
    """One line per import of the chain, the file and line where it is written."""
    return "\n".join(
        f"    {importer} -> {imported}: {where(graph, importer, imported)}"
        for importer, imported in itertools.pairwise(chain)
    )


def upward_imports(graph: grimp.ImportGraph) -> list[str]:
    """Every dependency of a layer on one above it, in words (empty when the layers hold)."""
    found = []
    for dependency in sorted(
        graph.find_illegal_dependencies_for_layers(layers=LAYERS),
        key=lambda d: (d.importer, d.imported),
    ):
        chains = sorted(
            (head, *route.middle, tail)
            for route in dependency.routes
            for head in route.heads
            for tail in route.tails
        )
        found.append(
            f"{dependency.importer} imports {dependency.imported}, which is above it:\n"
            + "\n".join(chain_in_words(graph, chain) for chain in chains)
        )
    return found


def test_each_app_imports_only_the_layers_below_it(graph):
    found = upward_imports(graph)
    assert not found, (
        "These imports point up the layers (pyproject.toml, [tool.importlinter]); move the code "
        "that needs them to the layer above, or have the lower layer send a signal:\n\n"
        + "\n\n".join(found)
    )


def test_no_two_parts_of_the_project_import_each_other(graph):
    cycles = []
    for first, second in itertools.combinations(LAYERED, 2):
        there = graph.find_shortest_chain(importer=first, imported=second, as_packages=True)
        back = graph.find_shortest_chain(importer=second, imported=first, as_packages=True)
        if there and back:
            cycles.append(
                f"{first} and {second} import each other:\n"
                f"{chain_in_words(graph, there)}\n{chain_in_words(graph, back)}"
            )
    assert not cycles, "Import cycles between parts of the project:\n\n" + "\n\n".join(cycles)


def test_every_module_of_the_project_has_a_layer(graph):
    """A new module of cardreveal must be placed in the contract, or nothing checks it."""
    unplaced = sorted(graph.find_children("cardreveal") - set(LAYERED))
    assert not unplaced, f"Add these to the layers in pyproject.toml: {', '.join(unplaced)}"
    assert "providers" in LAYERED


def test_only_the_admin_imports_the_admin_forms(graph):
    """The reveal path (bindings, services, models) never loads the admin's form module."""
    importers = graph.find_downstream_modules("cardreveal.cards.provider_forms")
    assert importers == {"cardreveal.cards.admin"}


def test_an_import_that_points_up_is_named_with_its_file_and_line(graph):
    graph.add_import(
        importer="cardreveal.accounts.models",
        imported="cardreveal.api.views",
        line_number=7,
        line_contents="from cardreveal.api.views import ApiView",
    )
    found = "\n".join(upward_imports(graph))
    assert "cardreveal.accounts imports cardreveal.api, which is above it:" in found
    assert (
        "cardreveal.accounts.models -> cardreveal.api.views: "
        "cardreveal/accounts/models.py:7 (from cardreveal.api.views import ApiView)"
    ) in found

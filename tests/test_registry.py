"""Registries: registration, lookup, cards, patterns, and the unknown-name message."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import types
from dataclasses import dataclass

import pytest

from deepnotes.cards import DataCard, ExperimentCard, ModelCard
from deepnotes.errors import UnknownNameError, UserError
from deepnotes.registry import DATASETS, EXPERIMENTS, MODELS, TASKS, Registry


@dataclass(frozen=True)
class ThingCard:
    colour: str
    size: int


def make_registry() -> Registry:
    """A fresh registry (nothing to import) holding three builders."""
    things = Registry("thing", listed_by="deepnotes things")

    @things.register("alpha", ThingCard(colour="red", size=1))
    def alpha(width: int = 3, depth: int = 4) -> tuple[str, int, int]:
        return ("alpha", width, depth)

    @things.register()  # no name: the function's own name
    def beta(**kwargs: object) -> dict[str, object]:
        return dict(kwargs)

    @things.register("alphabet")
    def gamma() -> str:
        return "alphabet"

    return things


# --- A registry of its own -------------------------------------------------------------


def test_register_returns_the_builder_unchanged():
    things = Registry("thing")

    def builder() -> int:
        return 7

    assert things.register("seven")(builder) is builder
    assert things.get("seven").builder is builder
    assert things.get("seven").name == "seven"


def test_create_calls_the_builder_with_the_arguments():
    things = make_registry()
    assert things.create("alpha") == ("alpha", 3, 4)
    assert things.create("alpha", width=10) == ("alpha", 10, 4)
    assert things.create("alpha", width=10, depth=20) == ("alpha", 10, 20)


def test_create_drops_arguments_that_are_none():
    things = make_registry()
    # None means "not given": the builder's defaults stay.
    assert things.create("alpha", width=None, depth=5) == ("alpha", 3, 5)
    assert things.create("alpha", width=None, depth=None) == ("alpha", 3, 4)
    # The builder never sees the None keys at all, falsy non-None values pass through.
    assert things.create("beta", a=None, b=0, c="", d=False) == {"b": 0, "c": "", "d": False}


def test_register_without_name_uses_the_function_name():
    things = make_registry()
    assert "beta" in things
    assert things.card("beta") is None


def test_card_is_the_one_given_at_registration():
    things = make_registry()
    assert things.card("alpha") == ThingCard(colour="red", size=1)
    assert things.card("alphabet") is None


def test_a_typed_registry_refuses_a_card_of_another_type():
    typed = Registry("thing", card_type=ThingCard)
    with pytest.raises(TypeError, match="ThingCard"):
        typed.register("untyped")
    with pytest.raises(TypeError, match="ThingCard"):
        typed.register("wrong", {"colour": "red"})
    typed.register("right", ThingCard("blue", 2))(lambda: 1)
    assert typed.names() == ["right"]
    assert MODELS.card_type is ModelCard and DATASETS.card_type is DataCard
    assert EXPERIMENTS.card_type is ExperimentCard


def test_names_in_registration_order_and_by_pattern():
    things = make_registry()
    assert things.names() == ["alpha", "beta", "alphabet"]
    assert things.names("alpha*") == ["alpha", "alphabet"]
    assert things.names("*a") == ["alpha", "beta"]
    assert things.names("?eta") == ["beta"]
    assert things.names("alpha") == ["alpha"]
    assert things.names("ALPHA*") == []  # fnmatch patterns here are case-sensitive
    assert things.names("nothing*") == []


def test_contains_len_and_iteration_order():
    things = make_registry()
    assert "alpha" in things
    assert "gamma" not in things  # registered under "alphabet", not its function name
    assert 3 not in things
    assert len(things) == 3
    entries = list(things)
    assert [e.name for e in entries] == ["alpha", "beta", "alphabet"]
    assert entries[0].card == ThingCard(colour="red", size=1)
    assert entries[2].builder() == "alphabet"


def test_iteration_is_a_snapshot():
    things = make_registry()
    iterator = iter(things)
    things.register("late")(lambda: None)
    assert [e.name for e in iterator] == ["alpha", "beta", "alphabet"]
    assert len(things) == 4


def test_registering_a_name_twice_raises():
    things = make_registry()
    with pytest.raises(ValueError, match="'alpha'"):
        things.register("alpha")(lambda: None)

    def beta() -> None: ...

    with pytest.raises(ValueError, match="'beta'"):
        things.register()(beta)
    assert things.create("alpha") == ("alpha", 3, 4)  # the first registration is kept
    assert len(things) == 3


def test_unknown_name_raises_a_user_error_naming_close_matches():
    things = make_registry()
    with pytest.raises(UnknownNameError) as info:
        things.get("alpah")
    message = str(info.value)
    assert "'alpah'" in message
    assert "did you mean" in message
    assert "alpha" in message.split("did you mean", 1)[1]
    assert "`deepnotes things`" in message
    assert "\n" not in message
    # The CLI's contract: a user error, and a LookupError for callers that catch those.
    assert isinstance(info.value, UserError)
    assert isinstance(info.value, LookupError)
    for method in (things.create, things.card):
        with pytest.raises(UnknownNameError, match="did you mean"):
            method("alpah")


def test_unknown_name_without_close_match_has_no_suggestion():
    things = make_registry()
    with pytest.raises(UnknownNameError) as info:
        things.get("zzzzqqq")
    message = str(info.value)
    assert "'zzzzqqq'" in message
    assert "did you mean" not in message
    assert "`deepnotes things`" in message


def test_unknown_name_without_listing_command_names_none():
    things = Registry("thing")
    with pytest.raises(UnknownNameError) as info:
        things.get("anything")
    assert str(info.value) == "unknown thing 'anything'"


# --- The global registries -------------------------------------------------------------


def test_unknown_model_suggests_the_closest_model():
    with pytest.raises(UnknownNameError) as info:
        MODELS.create("lenet5_rleu", num_classes=10)
    message = str(info.value)
    suggestions = message.split("did you mean", 1)[1]
    assert "lenet5_relu" in suggestions
    assert "mlp" not in suggestions
    assert "`deepnotes models`" in message


def test_unknown_model_far_from_every_name_has_no_suggestion():
    with pytest.raises(UnknownNameError) as info:
        MODELS.get("transformer-xxl-9000")
    assert "did you mean" not in str(info.value)
    assert "`deepnotes models`" in str(info.value)


def test_populate_imports_the_module_on_first_lookup_only(tmp_path, monkeypatch):
    """A registry with `populate` imports that module at its first lookup, once."""
    holder = types.ModuleType("lazy_registry_holder")
    holder.REG = Registry("thing", populate="lazy_things_module")
    holder.imports = 0
    monkeypatch.setitem(sys.modules, "lazy_registry_holder", holder)
    (tmp_path / "lazy_things_module.py").write_text(
        "import lazy_registry_holder as h\n"
        "h.imports += 1\n"
        "h.REG.register('late', 'blue')(lambda: 42)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "lazy_things_module", raising=False)

    assert holder.imports == 0
    assert "lazy_things_module" not in sys.modules
    assert holder.REG.names() == ["late"]  # the first lookup imported the module
    assert holder.imports == 1
    assert "late" in holder.REG
    assert len(holder.REG) == 1
    assert holder.REG.create("late") == 42
    assert holder.REG.card("late") == "blue"
    assert [e.name for e in holder.REG] == ["late"]
    assert holder.imports == 1  # and only once


@pytest.mark.parametrize(
    "lookup",
    [
        "len(registry)",
        "'x' in registry",
        "list(registry)",
        "registry.names()",
        "registry.card('late')",
        "registry.create('late')",
    ],
)
def test_every_lookup_populates(lookup, tmp_path, monkeypatch):
    holder = types.ModuleType("lazy_registry_holder2")
    holder.REG = Registry("thing", populate="lazy_things_module2")
    monkeypatch.setitem(sys.modules, "lazy_registry_holder2", holder)
    (tmp_path / "lazy_things_module2.py").write_text(
        "import lazy_registry_holder2 as h\nh.REG.register('late')(lambda: 42)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "lazy_things_module2", raising=False)
    eval(lookup, {"registry": holder.REG})
    assert "lazy_things_module2" in sys.modules
    assert holder.REG.names() == ["late"]


def test_importing_the_registries_imports_no_entries():
    """`import deepnotes.registry` stays cheap: no entry package, not even torch."""
    script = textwrap.dedent(
        """
        import sys
        from deepnotes.registry import DATASETS, EXPERIMENTS, MODELS, TASKS
        loaded = [m for m in ("torch", "deepnotes.models", "deepnotes.data",
                              "deepnotes.experiments", "deepnotes.train") if m in sys.modules]
        populated = [r.kind for r in (MODELS, DATASETS, EXPERIMENTS, TASKS) if r._populated]
        print(loaded, populated)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[] []"


@pytest.mark.parametrize(
    ("registry", "package"),
    [
        (MODELS, "deepnotes.models"),
        (DATASETS, "deepnotes.data"),
        (EXPERIMENTS, "deepnotes.experiments"),
        (TASKS, "deepnotes.tasks"),
    ],
    ids=["models", "datasets", "experiments", "tasks"],
)
def test_global_registry_lookup_imports_its_package(registry: Registry, package: str):
    assert len(registry) > 0
    assert registry._populated
    assert package in sys.modules


@pytest.mark.parametrize(
    ("registry", "expected"),
    [
        (MODELS, {"lenet5", "lenet5_relu", "mlp"}),
        (DATASETS, {"digits"}),
        (EXPERIMENTS, {"conv-arithmetic", "lenet-digits"}),
        (TASKS, {"classification"}),
    ],
    ids=["models", "datasets", "experiments", "tasks"],
)
def test_global_registries_hold_the_known_entries(registry: Registry, expected: set[str]):
    assert expected <= set(registry.names())
    for name in expected:
        assert name in registry
    assert len(registry) == len(registry.names()) >= len(expected)
    assert [e.name for e in registry] == registry.names()


def test_global_model_card_reads_back():
    assert MODELS.card("lenet5").task == "classification"
    assert MODELS.card("lenet5").input_size == (1, 28, 28)
    assert set(MODELS.names("lenet5*")) == {"lenet5", "lenet5_relu"}


def test_a_fresh_interpreter_lists_every_task():
    """`TASKS.names()` with nothing imported first equals the tasks registered once every
    module of the package is imported: no task waits for another package to register it."""
    script = textwrap.dedent(
        """
        import importlib, pkgutil
        import deepnotes
        from deepnotes.registry import TASKS
        fresh = TASKS.names()
        for module in pkgutil.walk_packages(deepnotes.__path__, "deepnotes."):
            if module.name not in ("deepnotes.__main__",):
                importlib.import_module(module.name)
        print(sorted(fresh) == sorted(TASKS.names()), len(fresh))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    same, count = result.stdout.split()
    assert same == "True" and int(count) >= 10

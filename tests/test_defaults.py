"""One default per setting: every component's core, its KFP component and the pipelines agree.

A default is written in up to four places: the core function (what a notebook or the CLI gets),
the component's ``python_func`` (what a user's own pipeline gets), each pipeline's parameter that
feeds the component (what the Kubeflow UI shows) and ``mlrail run``'s option of the same name;
and a CLI option's help that states its default (``(default: 0.2)``) states the one it has.
Nothing here lists values: the mapping is read from the code, so a new parameter is covered the
day it is added.

- component → core: the keyword arguments of the adapter's one ``core.<name>(...)`` call, read
  from its source; a core taking ``**options`` is followed to the function it passes them to.
- pipeline → component: the compiled IR, each task's input traced through the ``dsl.If``
  sub-DAGs back to the pipeline parameter that feeds it.

A pipeline may choose another default than the component on purpose; such a choice is listed in
:data:`PIPELINE_CHOICES` with its value and reason, and the listing is checked too.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import importlib
import importlib.util
import inspect
import pkgutil
import re
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import pytest
import yaml

import mlrail.components
from mlrail.cli import build_parser
from tests.pipelines.golden import PIPELINES, compiled_once

COMPONENTS = sorted(
    m.name
    for m in pkgutil.iter_modules(mlrail.components.__path__)
    if m.ispkg and importlib.util.find_spec(f"mlrail.components.{m.name}.component")
)

#: (component, parameter) → (the pipelines' default, why it differs from the component's).
PIPELINE_CHOICES: dict[tuple[str, str], tuple[Any, str]] = {
    ("deploy", "target"): (
        "render",
        "a cluster run writes the InferenceService without touching the cluster unless asked; "
        "the component's `local` needs a model repository folder on the machine",
    ),
    ("deploy", "model_name"): ("penguins", "the pipeline's default data is bundled:penguins"),
    ("export_onnx", "model_name"): ("penguins", "the pipeline's default data is bundled:penguins"),
    ("notify", "model_name"): ("penguins", "the pipeline's default data is bundled:penguins"),
    ("validate", "model_name"): ("penguins", "the pipeline's default data is bundled:penguins"),
    ("evaluate", "model_name"): ("penguins", "the pipeline's default data is bundled:penguins"),
    ("register", "model_name"): ("penguins", "the pipeline's default data is bundled:penguins"),
    ("monitor", "history"): (
        "s3://mlpipeline/monitoring-history",
        "a scheduled pipeline keeps each window's summary beside the payload logs, for the "
        "trend across windows; monitor used alone keeps none unless asked",
    ),
    ("deploy", "log_sample_rate"): (
        0.1,
        "a pipeline's deploy logs a tenth of the answers, so the monitoring pipeline has a "
        "window to read; deploy used alone logs nothing unless asked",
    ),
}

_EMPTY: tuple[Any, ...] = (None, (), [], {})


def _same(a: Any, b: Any) -> bool:
    """Equal as settings: None is a core's spelling of an empty collection (a mutable default
    cannot be written), so None, (), [] and {} are one "nothing"; a bool is not a number."""
    if any(a is e or (a == e and type(a) is type(e)) for e in _EMPTY):
        return any(b is e or (b == e and type(b) is type(e)) for e in _EMPTY)
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return list(a) == list(b)
    return bool(a == b)


def _component(name: str) -> Any:
    return getattr(importlib.import_module(f"mlrail.components.{name}"), name)


def _defaults(fn: Callable[..., Any]) -> dict[str, Any]:
    return {
        n: p.default
        for n, p in inspect.signature(fn).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def _core_defaults(fn: Callable[..., Any]) -> dict[str, Any]:
    """The defaults ``fn`` applies, following ``**options`` to the function it passes them to."""
    params = inspect.signature(fn).parameters
    out = _defaults(fn)
    varkw = next((n for n, p in params.items() if p.kind is p.VAR_KEYWORD), None)
    if varkw is None:
        return out
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and any(k.arg is None and ast.unparse(k.value) == varkw for k in node.keywords)
        ):
            callee = fn.__globals__[node.func.id]
            return {**_core_defaults(callee), **out}
    raise AssertionError(f"{fn.__qualname__} takes **{varkw} but passes it to no function")


@dataclass(frozen=True)
class CoreArgument:
    component: str
    parameter: str  # the component's
    core_parameter: str
    expression: ast.expr  # what the adapter passes, in terms of the component's parameters
    #: The core's dataclass the value is a field of (``core.Pipeline(name, ...)``), else None:
    #: the field's default is then the one to agree with.
    owner: Callable[..., Any] | None = None


def _core_arguments(name: str) -> tuple[Callable[..., Any], list[CoreArgument]]:
    """The core function the adapter calls and what it passes from each of its parameters."""
    func = _component(name).python_func
    tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    # core.<name>, or <module>.<name> of the component's own package (train's distributed.train,
    # which trains in the step or hands the same call to its workers)
    own_modules = {
        n.names[0].asname or n.names[0].name
        for n in ast.walk(tree)
        if isinstance(n, ast.ImportFrom) and n.module == f"mlrail.components.{name}"
    } | {"core"}
    calls = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call)
        and isinstance(n.func, ast.Attribute)
        and n.func.attr == name
        and ast.unparse(n.func.value) in own_modules
    ]
    assert len(calls) == 1, f"{name}: the adapter makes one core.{name}(...) call"
    module = ast.unparse(calls[0].func.value)  # type: ignore[attr-defined]
    core = getattr(importlib.import_module(f"mlrail.components.{name}.{module}"), name)
    own = set(inspect.signature(func).parameters)
    # positional arguments take the core's parameters in order, keywords by name
    passed = list(zip(inspect.signature(core).parameters, calls[0].args, strict=False))
    passed += [(k.arg, k.value) for k in calls[0].keywords if k.arg is not None]
    out = []
    for core_parameter, expression in passed:
        used = {n.id for n in ast.walk(expression) if isinstance(n, ast.Name)} & own
        if len(used) == 1:
            out.append(CoreArgument(name, used.pop(), core_parameter, expression))
        elif owner := _core_dataclass(name, expression):
            # settings grouped in one of the core's dataclasses: each field is a setting
            fields = list(zip(inspect.signature(owner).parameters, expression.args, strict=False))
            fields += [(k.arg, k.value) for k in expression.keywords if k.arg is not None]
            for field, value in fields:
                used = {n.id for n in ast.walk(value) if isinstance(n, ast.Name)} & own
                if len(used) == 1:
                    out.append(CoreArgument(name, used.pop(), field, value, owner))
    return core, out


def _core_dataclass(name: str, expression: ast.expr) -> Any:
    """The core's dataclass that ``expression`` (``core.Pipeline(...)``) builds, else None."""
    if not (isinstance(expression, ast.Call) and isinstance(expression.func, ast.Attribute)):
        return None
    if ast.unparse(expression.func.value) != "core":
        return None
    module = importlib.import_module(f"mlrail.components.{name}.core")
    cls = getattr(module, expression.func.attr, None)
    return cls if dataclasses.is_dataclass(cls) else None


def _core_cases() -> Iterator[Any]:
    """Every component parameter with a default that the adapter passes to the core (a required
    one has no default to disagree with: a run always passes it)."""
    for name in COMPONENTS:
        core, arguments = _core_arguments(name)
        defaults = _defaults(_component(name).python_func)
        for a in arguments:
            if a.parameter in defaults:
                yield pytest.param(core, a, id=f"{name}.{a.parameter}")


@pytest.mark.parametrize(("core", "argument"), list(_core_cases()))
def test_the_component_default_is_the_cores(
    core: Callable[..., Any], argument: CoreArgument
) -> None:
    component = _defaults(_component(argument.component).python_func)
    core_defaults = _core_defaults(argument.owner or core)
    assert argument.core_parameter in core_defaults, (
        f"{argument.component}: the component defaults {argument.parameter} to "
        f"{component[argument.parameter]!r}, the core's {argument.core_parameter} has no default"
    )
    # what the core receives when the component's default is used
    passed = eval(  # noqa: S307 (an expression from our own adapter's source)
        compile(ast.Expression(argument.expression), "<adapter>", "eval"),
        {},
        {argument.parameter: component[argument.parameter]},
    )
    want = core_defaults[argument.core_parameter]
    assert _same(passed, want), (
        f"{argument.component}.{argument.parameter}: the component's default "
        f"{component[argument.parameter]!r} reaches the core as {passed!r}; the core's "
        f"{argument.core_parameter} defaults to {want!r}"
    )


def test_every_component_passes_every_setting_to_its_core() -> None:
    """A component parameter with a default that never reaches the core is a setting that does
    nothing (and a default no test above would compare)."""
    for name in COMPONENTS:
        _, arguments = _core_arguments(name)
        passed = {a.parameter for a in arguments}
        unused = set(_defaults(_component(name).python_func)) - passed
        assert not unused, f"{name}: {sorted(unused)} never reach core.{name}"


# --- pipelines --------------------------------------------------------------------------------


@cache
def _ir(pipeline: str) -> dict[str, Any]:
    return next(yaml.safe_load_all(compiled_once(pipeline)))


def _fed(ir: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(component, its parameter, the pipeline parameter feeding it) for every executor task."""
    names = {_component(n).component_spec.name: n for n in COMPONENTS}

    def walk(dag: dict[str, Any], outer: dict[str, str]) -> Iterator[tuple[str, str, str]]:
        for task in dag["tasks"].values():
            ref = task["componentRef"]["name"]
            inputs: dict[str, str] = {}
            for param, spec in task.get("inputs", {}).get("parameters", {}).items():
                source = spec.get("componentInputParameter")
                if source in outer:
                    inputs[param] = outer[source]
            spec = ir["components"][ref]
            if "dag" in spec:
                yield from walk(spec["dag"], inputs)
                continue
            component = names[re.sub(r"-\d+$", "", ref.removeprefix("comp-"))]
            for param, pipeline_param in inputs.items():
                yield component, param, pipeline_param

    root = ir["root"]["inputDefinitions"]["parameters"]
    return walk(ir["root"]["dag"], {p: p for p in root})


def _pipeline_cases() -> Iterator[Any]:
    """Every pipeline parameter that feeds a component parameter with a default (a required one's
    only default is the pipeline's)."""
    for pipeline in PIPELINES:
        for component, param, pipeline_param in _fed(_ir(pipeline)):
            defaults = _defaults(_component(component).python_func)
            if param not in defaults and (component, param) not in PIPELINE_CHOICES:
                continue
            yield pytest.param(
                pipeline, component, param, pipeline_param, id=f"{pipeline}-{component}.{param}"
            )


@pytest.mark.parametrize(
    ("pipeline", "component", "param", "pipeline_param"), list(_pipeline_cases())
)
def test_the_pipeline_default_is_the_components(
    pipeline: str, component: str, param: str, pipeline_param: str
) -> None:
    root = _ir(pipeline)["root"]["inputDefinitions"]["parameters"][pipeline_param]
    assert "defaultValue" in root, f"{pipeline}: {pipeline_param} has no default"
    got = root["defaultValue"]
    defaults = _defaults(_component(component).python_func)
    if (component, param) in PIPELINE_CHOICES:
        want, why = PIPELINE_CHOICES[component, param]
        assert _same(got, want), (
            f"{pipeline}.{pipeline_param} (→ {component}.{param}) defaults to {got!r}; "
            f"PIPELINE_CHOICES says {want!r} ({why})"
        )
        return
    assert _same(got, defaults[param]), (
        f"{pipeline}.{pipeline_param} defaults to {got!r}; it feeds {component}.{param}, "
        f"which defaults to {defaults[param]!r}"
    )


def test_every_listed_pipeline_choice_is_still_a_choice() -> None:
    fed = {(c, p) for pipeline in PIPELINES for c, p, _ in _fed(_ir(pipeline))}
    for (component, param), (value, _) in PIPELINE_CHOICES.items():
        assert (component, param) in fed, f"no pipeline feeds {component}.{param} any more"
        default = _defaults(_component(component).python_func).get(param)
        assert not _same(value, default), f"{component}.{param}: no longer differs; unlist it"


# --- mlrail run -------------------------------------------------------------------------------


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _run_options() -> dict[str, Any]:
    """``mlrail run``'s option defaults, by destination name."""
    return {
        a.dest: a.default
        for a in _subparsers(build_parser())["run"]._actions
        if a.default is not None and a.default is not argparse.SUPPRESS
    }


def _stated_defaults() -> Iterator[Any]:
    """Every CLI option whose help states its default as a value: ``(default: 0.2)``."""
    for command, parser in _subparsers(build_parser()).items():
        for action in parser._actions:
            stated = re.search(r"\(default: ([^;) ]+)[;)]", action.help or "")
            if stated and action.default is not None:
                name = action.option_strings[-1] if action.option_strings else action.dest
                yield pytest.param(action.default, stated[1], id=f"{command} {name}")


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_mlrail_run_options_default_as_the_pipeline(pipeline: str) -> None:
    """An option named as a pipeline parameter defaults to the pipeline's value (``mlrail run``
    passes every option it has, so its default is the one a local run gets)."""
    params = _ir(pipeline)["root"]["inputDefinitions"]["parameters"]
    shared = {n: v for n, v in _run_options().items() if n in params}
    assert shared, "mlrail run has no option named as a pipeline parameter"
    for name, value in shared.items():
        got = params[name].get("defaultValue")
        assert _same(value, got), (
            f"mlrail run --{name.replace('_', '-')} defaults to {value!r}; "
            f"the {pipeline} pipeline's {name} to {got!r}"
        )


@pytest.mark.parametrize(("default", "stated"), list(_stated_defaults()))
def test_cli_help_states_the_default_it_has(default: Any, stated: str) -> None:
    if isinstance(default, int | float) and not isinstance(default, bool):
        assert float(stated) == default
    else:
        assert stated.removeprefix("./") == str(default)

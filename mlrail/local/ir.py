"""The compiled pipeline, as the local runner reads it and adapts it to a laptop.

The runner learns a pipeline's steps from its compiled IR (the pipeline spec), not from a list
of its own: each executor-backed task of the DAG, nested ``dsl.If`` sub-DAGs included, in
dependency order. A step is named by the component function its executor runs (``export_onnx``)
and is found on disk in kfp.local's task folder, named by the task's component reference without
its ``comp-`` prefix (``export-onnx``; kfp.local's ``get_local_task_resource_name``). A step
inside a ``dsl.ParallelFor`` runs once per item, each time in the folder of its iteration:
``<loop task>-iteration-<i>/<task folder>`` (``for-loop-2-iteration-0/ingest``), and its
:attr:`Step.loop` names the loop's task.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlrail.errors import MlrailError

__all__ = ["Step", "compile_ir", "compile_versioned", "for_local", "ir_version", "steps_of"]

_COMPONENT_PREFIX = "comp-"


@dataclass(frozen=True)
class Step:
    """One step of a compiled pipeline.

    Attributes:
        name: The component function its executor runs (``export_onnx``).
        task: Its task folder in kfp.local's run folder (``export-onnx``), or in each of its
            loop's iteration folders.
        loop: The ``dsl.ParallelFor`` task it runs in (``for-loop-2``); "" for none.
    """

    name: str
    task: str
    loop: str = ""

    def folder(self, iteration: int | None = None) -> str:
        """Its task folder relative to the run folder (in a loop: of that iteration's run)."""
        if not self.loop:
            return self.task
        return f"{self.loop}-iteration-{iteration}/{self.task}"


def compile_ir(pipeline: Any) -> dict[str, Any]:
    """The pipeline spec (the first YAML document) ``pipeline`` compiles to."""
    return compile_versioned(pipeline)[0]


def compile_versioned(pipeline: Any) -> tuple[dict[str, Any], str]:
    """The pipeline spec and its version: the SHA-256 (hex) of the compiled YAML file.

    The version is what ``mlrail submit`` computes for the same file (:func:`ir_version`): KFP
    has no placeholder for a pipeline's version, so the caller passes it as a parameter.
    """
    import yaml
    from kfp import compiler

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pipeline.yaml"
        compiler.Compiler().compile(pipeline, str(path))
        spec: dict[str, Any] = next(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        return spec, ir_version(path)


def ir_version(path: str | Path) -> str:
    """A compiled pipeline file's version: the SHA-256 of its bytes, in hex."""
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _in_order(tasks: dict[str, Any]) -> list[str]:
    """Task names with each after the tasks it depends on; ties in the IR's (sorted) order."""
    done: list[str] = []
    left = list(tasks)
    while left:
        ready = [t for t in left if set(tasks[t].get("dependentTasks", [])) <= set(done)]
        if not ready:
            raise MlrailError(f"tasks {left}: their dependencies form a cycle in the pipeline")
        done.append(ready[0])
        left.remove(ready[0])
    return done


def _function(executor: dict[str, Any], fallback: str) -> str:
    """The Python function a lightweight component's executor runs (``--function_to_execute``)."""
    args = [
        *executor.get("container", {}).get("command", []),
        *executor.get("container", {}).get("args", []),
    ]
    if "--function_to_execute" in args[:-1]:
        return str(args[args.index("--function_to_execute") + 1])
    return fallback


def steps_of(spec: dict[str, Any]) -> list[Step]:
    """The executor-backed tasks of a pipeline spec, sub-DAGs flattened, in dependency order."""
    components, executors = spec["components"], spec["deploymentSpec"]["executors"]

    def walk(dag: dict[str, Any], loop: str) -> list[Step]:
        tasks = dag.get("tasks", {})
        steps: list[Step] = []
        for name in _in_order(tasks):
            ref = tasks[name]["componentRef"]["name"]
            component = components[ref]
            if "dag" in component:  # a dsl.If/ExitHandler sub-DAG: its tasks run after its deps
                looped = {"parameterIterator", "artifactIterator"} & set(tasks[name])
                if looped and loop:
                    raise MlrailError(f"{name}: a dsl.ParallelFor inside another, not run here")
                steps += walk(component["dag"], name if looped else loop)
            else:
                folder = ref.removeprefix(_COMPONENT_PREFIX)
                executor = executors.get(component.get("executorLabel", ""), {})
                steps.append(Step(_function(executor, name.replace("-", "_")), folder, loop))
        return steps

    return walk(spec["root"]["dag"], "")


# Each task's shell script, for kfp.local's SubprocessRunner. kfp.local replaces the text
# "python3" in EVERY element of a task's command line with this Python's path (to run the
# task in it), its executor input (the JSON holding every argument value and artifact path)
# included, so "--data ~/python3-data/x.csv" reached ingest as ".../bin/python-data/x.csv".
# It leaves alone only the element right after the one that holds both
# '"$program_path/ephemeral_component.py"' and '"$@"' (meant for the component's source), so
# here that element is the executor input ($0), the source comes next ($1). The program folder
# is made under $TMPDIR (the run's own temporary folder) and removed when the task ends: kfp's
# own script leaves a /tmp/tmp.* folder per task. The task runs through mlrail.local.steps,
# which runs kfp's executor_main and writes the step's record (start, end, status, error).
_LOCAL_TASK_SCRIPT = """\
program_path=$(mktemp -d "${TMPDIR:-/tmp}/mlrail-task.XXXXXXXX")
trap 'rm -rf "$program_path"' EXIT
printf "%s" "$1" > "$program_path/ephemeral_component.py"
executor_input=$0
shift
_KFP_RUNTIME=true python3 -m mlrail.local.steps kfp.dsl.executor_main \\
    --component_module_path "$program_path/ephemeral_component.py" \\
    --executor_input "$executor_input" "$@"
"""


def _local_command(name: str, container: dict[str, Any]) -> None:
    """Rewrite one executor's command in place for :data:`_LOCAL_TASK_SCRIPT`."""
    command, args = container.get("command", []), container.get("args", [])
    expected = (
        len(command) == 4
        and command[:2] == ["sh", "-ec"]
        and "ephemeral_component.py" in command[2]
        and args[:2] == ["--executor_input", "{{$}}"]
    )
    if not expected:
        raise MlrailError(
            f"{name}: not the lightweight Python component command this kfp.local "
            "workaround expects (a kfp upgrade?): see _LOCAL_TASK_SCRIPT in mlrail/local/ir.py"
        )
    source = command[3]
    if "python3" in source:
        # the one element kfp.local skips is the executor input now: the source is rewritten
        raise MlrailError(f"{name}: the component's source holds the text 'python3'")
    container["command"] = ["sh", "-ec", _LOCAL_TASK_SCRIPT, "{{$}}", source, *args[2:]]
    container["args"] = []


def for_local(spec: dict[str, Any], name: str = "") -> Any:
    """The compiled pipeline ``spec``, adapted to a laptop, loaded back as a component.

    - Retry policies are dropped: retries with backoff are for transient failures on the cluster
      (an object store hiccup); locally a step that failed fails again, so it fails at once.
    - The Kubernetes platform settings (second YAML document) are not in ``spec``: they mean
      nothing here.
    - KFP's scheduled-time placeholder becomes "": kfp.local cannot resolve it, and a local run
      has no schedule (a span pattern in the source then needs ``span_date``).
    - Each task's command passes its arguments where kfp.local does not rewrite "python3" in
      them, removes its program folder and records the step (:data:`_LOCAL_TASK_SCRIPT`).
    - ``name`` (if given) becomes the pipeline's name, so kfp.local's run folder
      (``<name>-<time stamp>``) says which run made it.

    Loading the compiled IR also means the local run executes what ``mlrail compile`` ships.
    ``spec`` itself is left as it was.
    """
    import copy

    import yaml
    from kfp import components, dsl

    spec = copy.deepcopy(spec)
    for comp in [spec["root"], *spec["components"].values()]:
        for task in comp.get("dag", {}).get("tasks", {}).values():
            task.pop("retryPolicy", None)
            for value in task.get("inputs", {}).get("parameters", {}).values():
                constant = value.get("runtimeValue", {})
                if constant.get("constant") == dsl.PIPELINE_JOB_SCHEDULE_TIME_UTC_PLACEHOLDER:
                    constant["constant"] = ""
    for executor, body in spec.get("deploymentSpec", {}).get("executors", {}).items():
        if "container" in body:
            _local_command(executor, body["container"])
    if name:
        spec["pipelineInfo"]["name"] = name
    return components.load_component_from_text(yaml.safe_dump(spec))

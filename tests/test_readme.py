"""The README's commands, options and code are the ones that exist."""
import ast
import configparser
import importlib.util
import inspect
import re
import shlex
from pathlib import Path
from typing import Dict, List, Set

import pytest

from tasks_flowrun import CreateFlowRun, GetTaskRunResult, WaitForFlowRun
from tasks_flowrun.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"`([^`\n]+)`")
TASK_CALLS = {"create_flow_run": CreateFlowRun, "CreateFlowRun": CreateFlowRun,
              "wait_for_flow_run": WaitForFlowRun, "WaitForFlowRun": WaitForFlowRun,
              "get_task_run_result": GetTaskRunResult, "GetTaskRunResult": GetTaskRunResult}


def blocks(language: str) -> List[str]:
    return [body for lang, body in FENCE.findall(README) if lang == language]


def prose() -> str:
    return FENCE.sub("", README)


def shell_commands() -> List[str]:
    """Every command of the bash blocks (split on && and ;, comments dropped), plus inline code."""
    commands = []
    for body in blocks("bash"):
        for line in body.splitlines():
            line = line.split(" #")[0].strip()
            commands += [c.strip() for c in re.split(r"&&|;", line) if c.strip()]
    commands += [code.strip() for code in INLINE.findall(prose())]
    return commands


def options_of(task: type) -> Set[str]:
    params = inspect.signature(task.__init__).parameters
    return {name for name, p in params.items() if name != "self" and p.kind is p.POSITIONAL_OR_KEYWORD}


def table_after(heading_text: str) -> Set[str]:
    """The backticked names in the first column of the table that follows `heading_text`."""
    start = README.index(heading_text)
    names = set()
    for line in README[start:].splitlines()[1:]:
        if names and not line.startswith("|"):
            break
        cell = line.split("|")[1] if line.startswith("|") else ""
        names.update(INLINE.findall(cell))
    return names


def test_python_blocks_compile_and_call_the_tasks_with_real_options() -> None:
    sources = blocks("python")
    assert sources, "the README shows how to use the tasks"
    for source in sources:
        tree = ast.parse(source)
        compile(tree, "README.md", "exec")
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in ("map", "run"):
                func = func.value
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name in TASK_CALLS:
                unknown = {k.arg for k in node.keywords} - options_of(TASK_CALLS[name])
                assert not unknown, f"{name}(...) in the README uses unknown options {unknown}"


@pytest.mark.parametrize(
    "heading, task",
    [("`CreateFlowRun` / `create_flow_run` options", CreateFlowRun),
     ("`WaitForFlowRun` / `wait_for_flow_run` options", WaitForFlowRun),
     ("`GetTaskRunResult` / `get_task_run_result` options", GetTaskRunResult)],
)
def test_option_tables_list_exactly_the_real_options(heading: str, task: type) -> None:
    assert table_after(heading) == options_of(task)


def test_inline_task_options_exist() -> None:
    """Backticked snake_case names next to the tables are options of one of the tasks."""
    all_options = options_of(CreateFlowRun) | options_of(WaitForFlowRun) | options_of(GetTaskRunResult)
    section = README[README.index("## Using the tasks"):README.index("## The embedded backend")]
    for name in INLINE.findall(FENCE.sub("", section)):
        if re.fullmatch(r"[a-z]+(_[a-z]+)+", name) and name not in {"create_flow_run", "wait_for_flow_run",
                                                                  "get_task_run_result",
                                                                  "parent_flow_run_id", "parent_task_run_id",
                                                                  "parent_map_index", "hello_world", "fan_out"}:
            assert name in all_options, f"`{name}` is not an option of the tasks"


def test_every_tasks_flowrun_command_parses() -> None:
    parser = build_parser()
    seen: Dict[str, int] = {}
    for command in shell_commands():
        if command.startswith("tox -e demo -- "):  # tox passes these on to `tasks-flowrun demo`
            command = "tasks-flowrun demo " + command.split(" -- ", 1)[1]
        if not command.startswith("tasks-flowrun"):
            continue
        argv = shlex.split(command)[1:]
        try:
            parser.parse_args(argv)
        except SystemExit:
            pytest.fail(f"the README's `{command}` is not a valid tasks-flowrun command")
        seen[argv[0] if argv else ""] = seen.get(argv[0] if argv else "", 0) + 1
    assert "server" in seen and "demo" in seen


def test_every_documented_flag_exists() -> None:
    """Flags in the demo, server and agent option tables are real flags of those subcommands."""
    subparsers = next(a for a in build_parser()._actions if a.dest == "command").choices
    flags = {name: set(sub._option_string_actions) for name, sub in subparsers.items()}
    for heading, command in (("Options go after `--`", "demo"), ("`tasks-flowrun server` option", "server"),
                             ("`tasks-flowrun agent` options:", "agent")):
        documented = {code.split()[0] for code in table_after(heading) if code.startswith("--")}
        assert documented, heading
        assert documented <= flags[command], documented - flags[command]
        assert {f for f in flags[command] if f.startswith("--") and f != "--help"} <= documented, \
            f"undocumented {command} flags"


def test_tox_envs_and_ci_match_the_readme() -> None:
    tox = configparser.ConfigParser()
    tox.read(ROOT / "tox.ini")
    envs = {section.split(":", 1)[1] for section in tox.sections() if section.startswith("testenv:")}
    mentioned = set(re.findall(r"\btox -e (\w+)", README))
    assert mentioned and mentioned <= envs, mentioned - envs
    assert "pip install tox && tox -e tests" in README
    assert "pip install tox && tox -e demo" in README
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"tox -e tests\b", ci), "CI must run the README's test command"
    assert re.search(r"tox -e lint,typecheck\b", ci), "CI must run the static checks and the type check"


def test_referenced_files_modules_and_flows_exist() -> None:
    for path in set(re.findall(r"\b((?:examples|tests|tasks_flowrun)/[\w/.]+\.py)\b", README)):
        assert (ROOT / path).is_file(), path
    for name in set(re.findall(r"`((?:examples/parent_flows/)?\w+\.py)`", README)):
        assert (ROOT / "examples" / "parent_flows" / Path(name).name).is_file(), name
    for module in set(re.findall(r"python -m ([\w.]+)", README)):
        assert importlib.util.find_spec(module) is not None, module
    flow_names = set()
    for path in (ROOT / "examples" / "parent_flows").glob("*.py"):
        flow_names |= set(re.findall(r'Flow\("([^"]+)"', path.read_text()))
    for command in shell_commands():
        match = re.search(r"prefect run --name (\S+)", command)
        if match:
            assert match.group(1) in flow_names, command


def test_examples_readme_lists_every_example_with_its_parent_flow() -> None:
    folder = ROOT / "examples" / "parent_flows"
    text = (folder / "README.md").read_text()
    rows = re.findall(r"^\| `(\w+\.py)` \| `([\w-]+)` \|", text, re.M)
    assert {name for name, _ in rows} == {p.name for p in folder.glob("*.py")}
    for name, parent in rows:
        assert f'Flow("{parent}")' in (folder / name).read_text(), (name, parent)

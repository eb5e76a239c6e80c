"""Register the example flows the way `prefect register -p FILE` does: Local storage, stored as script."""
from pathlib import Path
from typing import Dict, List, Optional

import prefect

import tasks_flowrun

EXAMPLES_SUBDIR = Path("examples") / "parent_flows"


def examples_dir(start: Optional[Path] = None) -> Path:
    """The `examples/parent_flows/` folder of this checkout (or of the current directory)."""
    candidates = [Path(tasks_flowrun.__file__).resolve().parents[1], start or Path.cwd()]
    for root in candidates:
        folder = root / EXAMPLES_SUBDIR
        if (folder / "fan_out.py").is_file():
            return folder
    raise FileNotFoundError(
        f"cannot find {EXAMPLES_SUBDIR}/ next to the tasks_flowrun package or in {Path.cwd()}; "
        "run the demo from a clone of the repository"
    )


def example_files(folder: Path) -> List[Path]:
    return sorted(p for p in folder.glob("*.py") if not p.name.startswith("_"))


def register_file(client: "prefect.Client", path: Path, project_name: str) -> Dict[str, str]:
    """Register every flow defined in `path` into `project_name`; return {flow name: flow id}.

    Each flow gets Local storage pointing at the file (stored_as_script), so an agent on
    this machine loads it from the file. Unchanged flows are not re-versioned.
    """
    from prefect.cli.build_register import (
        get_project_id,
        load_flows_from_script,
        prepare_flows,
        register_serialized_flow,
    )

    flows = load_flows_from_script(str(path))
    prepare_flows(flows)  # type: ignore[arg-type]  # Prefect annotates a wider list type
    project_id = get_project_id(client, project_name)
    registered = {}
    for flow in flows:
        flow.storage.build()
        flow_id, _version, _is_new = register_serialized_flow(
            client, flow.serialize(build=False), project_id, schedule=False
        )
        registered[flow.name] = flow_id
    return registered


def register_examples(client: "prefect.Client", project_name: str, folder: Optional[Path] = None) -> Dict[str, str]:
    """Register all example files of `folder` (default: the checkout's examples)."""
    registered: Dict[str, str] = {}
    for path in example_files(folder or examples_dir()):
        registered.update(register_file(client, path, project_name))
    return registered

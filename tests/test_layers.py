"""Data flows one way: no module of the package imports the CLI (the console script
``luxit = luxit_ray.cli:main`` is its only way in), and the job entrypoint runs jobs without it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from luxit_ray import entrypoint
from luxit_ray.errors import LuxitError

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "luxit_ray"


def _imported_modules(path: Path, top: Path) -> set[str]:
    """Absolute names of every module ``path`` (a file of a package under ``top``) imports,
    relative imports resolved."""
    module = ".".join(path.relative_to(top).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")
                parent = parent[: len(parent) - (node.level - 1)]
                base = ".".join([*parent, base] if base else parent)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def modules_importing_the_cli(root: Path = PACKAGE) -> list[str]:
    """Files under ``root`` (cli.py aside) that import ``luxit_ray.cli``."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if path == root / "cli.py":
            continue
        imported = _imported_modules(path, root.parent)
        if any(n == "luxit_ray.cli" or n.startswith("luxit_ray.cli.") for n in imported):
            found.append(str(path.relative_to(root.parent)))
    return found


def test_no_module_imports_the_cli():
    assert modules_importing_the_cli() == []


def test_the_check_finds_each_way_of_importing_the_cli(tmp_path):
    pkg = tmp_path / "luxit_ray"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "cli.py").write_text("import luxit_ray.entrypoint\n")
    (pkg / "a.py").write_text("from luxit_ray.cli import main\n")
    (pkg / "b.py").write_text("from luxit_ray import cli\n")
    (pkg / "c.py").write_text("def f():\n    import luxit_ray.cli\n")
    (pkg / "sub" / "d.py").write_text("from .. import cli\n")
    (pkg / "sub" / "e.py").write_text("from ..config import load_job\nfrom luxit_ray import client\n")
    assert modules_importing_the_cli(pkg) == ["luxit_ray/a.py", "luxit_ray/b.py", "luxit_ray/c.py", "luxit_ray/sub/d.py"]


def test_submitted_job_runs_without_loading_the_cli():
    # A submitted job's driver runs `python -m luxit_ray.submit <command> <job> ...`.
    code = ("import sys; from luxit_ray import submit; "
            f"rc = submit.job_main(['validate', {str(ROOT / 'jobs' / 'quickstart.yaml')!r}]); "
            "print('cli loaded', 'luxit_ray.cli' in sys.modules); sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "cli loaded False" in done.stdout
    assert f"{ROOT / 'jobs' / 'quickstart.yaml'}: valid (" in done.stdout


def test_entrypoint_reports_a_bad_command_as_one_line(capsys):
    assert entrypoint.main(["frobnicate", str(ROOT / "jobs" / "quickstart.yaml")]) == 2
    err = capsys.readouterr().err
    assert "unknown job command 'frobnicate'" in err
    with pytest.raises(LuxitError, match="unknown job command"):
        entrypoint.run_job("frobnicate", ROOT / "jobs" / "quickstart.yaml")

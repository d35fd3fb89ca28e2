"""The tree's own rules: pytest imports test files by basename (no packages), so two alike would not collect."""

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent


def test_every_test_module_has_its_own_basename():
    names = Counter(path.name for path in TESTS.rglob("*.py") if path.name != "conftest.py")
    assert [name for name, count in names.items() if count > 1] == []


# What PID 1 has loaded when it enters its loop: its own code, early boot and the config it reads.
# The boot manager (rancheros.manager, the Docker SDK, psutil, the services) is imported only in the
# child it forks. A module added here is a decision: PID 1 must stay small and must not fail to import.
PID1_MODULES = {
    "rancheros", "rancheros.__main__", "rancheros.errors", "rancheros.lastresort", "rancheros.log",
    *(f"rancheros.config.{m}" for m in ("aliases", "cmdline", "compose", "keys", "layers", "merge", "paths", "redact", "shapes",
                                         "schema", "store", "yamlio")), "rancheros.config",
    *(f"rancheros.init.{m}" for m in ("backoff", "boot", "console_stream", "insmod",
                                       "main", "medium", "modules", "mounts", "osimage", "pid1", "recovery", "root",
                                       "shutdown", "state", "switch_root")), "rancheros.init",
    *(f"rancheros.system.{m}" for m in ("blockdev", "command", "libc", "mountinfo")), "rancheros.system",
}
PID1_THIRD_PARTY = {"yaml", "cython_runtime"}   # the config's parser and its C loader

_PID1_IMPORTS = """
import json, sys
import rancheros.__main__, rancheros.init.main
rancheros.init.main._preload_fatal_path()
import rancheros.init.boot
ours = sorted(m for m in sys.modules if m == "rancheros" or m.startswith("rancheros."))
base = {m.split(".")[0] for m in sys.modules if not m.startswith("_") and m != "__main__"}
print(json.dumps([ours, sorted(base - set(sys.stdlib_module_names) - {"rancheros", "sitecustomize"})]))
"""


def test_pid1_imports_only_its_own_code_early_boot_and_config():
    import json
    import subprocess
    import sys

    ours, third = json.loads(subprocess.run([sys.executable, "-c", _PID1_IMPORTS], check=True, text=True,
                                            capture_output=True, timeout=60).stdout)
    assert set(ours) - PID1_MODULES == set(), "PID 1 imports more of ours: keep it in the boot manager"
    assert set(third) <= PID1_THIRD_PARTY, f"PID 1 imports third-party {sorted(set(third) - PID1_THIRD_PARTY)}"


# Which of our packages each may import (docs/architecture.md, "Packages and what they may touch").
FLOOR = {"errors", "system", "lastresort"}
MAY_IMPORT: dict[str, set[str]] = {
    "errors": set(), "system": {"errors"}, "lastresort": set(),
    "log": {"errors"}, "boottrace": {"errors"}, "mirrors": {"errors"}, "cpio": {"errors"},
    "config": {"errors"},
    "init": FLOOR | {"config", "log", "manager"},
    "network": FLOOR | {"config", "log"}, "syslog": FLOOR | {"config", "log"},
    "udev": FLOOR | {"config", "log"}, "cloudinit": FLOOR | {"config", "log"},
    "userdocker": FLOOR | {"config", "log", "mirrors", "network"},
    "sysdocker": FLOOR | {"config", "log", "mirrors", "console", "cloudinit"},
    "console": FLOOR | {"config", "log", "network", "sysdocker", "userdocker"},
    "install": FLOOR | {"config", "log", "init"},
    "live": FLOOR | {"config", "log", "network", "console", "sysdocker"},
}
MAY_IMPORT["manager"] = set(MAY_IMPORT) - {"manager"}
MAY_IMPORT["cli"] = set(MAY_IMPORT) - {"cli"}
MAY_IMPORT["__main__"] = {"cli", "init", "sysdocker", "lastresort"}


def _imports_by_package() -> dict[str, set[str]]:
    import ast

    found: dict[str, set[str]] = {}
    package = TESTS.parent / "rancheros"
    for path in package.rglob("*.py"):
        parts = path.relative_to(package).parts
        mine = parts[0] if len(parts) > 1 else parts[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
            for name in names:
                if name.startswith("rancheros.") and name.split(".")[1] != mine:
                    found.setdefault(mine, set()).add(name.split(".")[1])
    return found


def test_each_package_imports_only_what_the_architecture_allows():
    wrong = {pkg: sorted(used - MAY_IMPORT.get(pkg, set())) for pkg, used in _imports_by_package().items()}
    assert {pkg: used for pkg, used in wrong.items() if used} == {}


def test_the_build_never_imports_the_products_errors():
    """rosbuild raises its own BuildError/VmError; product errors pass through to build.py's one line."""
    import ast

    users = []
    for path in sorted((TESTS.parent / "rosbuild").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "rancheros.errors" or \
                    isinstance(node, ast.Import) and any(a.name == "rancheros.errors" for a in node.names):
                users.append(path.name)
    assert users == []

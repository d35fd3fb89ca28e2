"""Kernel modules: the closure of a module list through modules.dep, copied and depmod'ed."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterable

from rosbuild.errors import BuildError
from rosbuild import steps


def norm(name: str) -> str:
    return name.replace("-", "_")


def module_name(path: str) -> str:
    """'kernel/fs/ext4/ext4.ko.xz' -> 'ext4'."""
    base = Path(path).name
    return norm(base.split(".ko")[0])


def parse_modules_dep(text: str) -> dict[str, list[str]]:
    """{module path: [dependency paths]} from modules.dep."""
    deps = {}
    for line in text.splitlines():
        if ":" in line:
            mod, rest = line.split(":", 1)
            deps[mod.strip()] = rest.split()
    return deps


def parse_softdeps(text: str) -> dict[str, list[str]]:
    """{module: [pre and post soft dependencies]} from modules.softdep (e.g. ext4 -> crc32c)."""
    soft: dict[str, list[str]] = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) > 2 and words[0] == "softdep":
            soft.setdefault(norm(words[1]), []).extend(norm(w) for w in words[2:] if not w.endswith(":"))
    return soft


def parse_aliases(text: str) -> dict[str, list[str]]:
    """{alias: [module names]} from modules.alias."""
    aliases: dict[str, list[str]] = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) == 3 and words[0] == "alias":
            aliases.setdefault(norm(words[1]), []).append(norm(words[2]))
    return aliases


def resolve(wanted: Iterable[str], deps: dict[str, list[str]], builtin: set[str],
            softdeps: dict[str, list[str]] | None = None, aliases: dict[str, list[str]] | None = None
            ) -> tuple[set[str], list[str]]:
    """(module paths to ship, names that are neither modules nor built in).

    Follows hard dependencies (modules.dep) and soft ones (modules.softdep, through aliases).
    """
    softdeps, aliases = softdeps or {}, aliases or {}
    by_name = {module_name(p): p for p in deps}
    chosen: set[str] = set()
    unknown = []
    todo = []
    for w in wanted:
        if norm(w) in by_name:
            todo.append(by_name[norm(w)])
        elif norm(w) not in builtin:
            unknown.append(w)
    while todo:
        p = todo.pop()
        if p in chosen:
            continue
        chosen.add(p)
        todo += deps.get(p, [])
        for soft in softdeps.get(module_name(p), []):
            todo += [by_name[n] for n in [soft, *aliases.get(soft, [])] if n in by_name]
    return chosen, unknown


def kernel_version(kernel_tree: Path) -> str:
    versions = sorted(p.name for p in (kernel_tree / "lib" / "modules").iterdir())
    if len(versions) != 1:
        raise BuildError(f"expected one kernel in {kernel_tree}/lib/modules, found {versions}")
    return versions[0]


def install(kernel_tree: Path, wanted: Iterable[str], dest_root: Path) -> tuple[str, list[str]]:
    """Copy the module closure into dest_root/lib/modules/<kver> and run depmod -b there.

    Returns (kernel version, wanted names that do not exist).
    """
    kver = kernel_version(kernel_tree)
    src = kernel_tree / "lib" / "modules" / kver
    work = steps.cache_dir() / "kernel-depmod" / kver
    if not (work / "lib" / "modules" / kver / "modules.dep").exists():
        # depmod over the whole kernel once, in a scratch copy of the metadata.
        shutil.rmtree(work, ignore_errors=True)
        (work / "lib" / "modules").mkdir(parents=True)
        shutil.copytree(src, work / "lib" / "modules" / kver,
                        copy_function=lambda s, d: Path(d).symlink_to(s))
        steps.run(["depmod", "-b", str(work), kver])
    meta = work / "lib" / "modules" / kver
    deps = parse_modules_dep((meta / "modules.dep").read_text())
    builtin = {module_name(l) for l in (src / "modules.builtin").read_text().split()}
    softdeps = parse_softdeps((meta / "modules.softdep").read_text()) if (meta / "modules.softdep").exists() else {}
    aliases = parse_aliases((meta / "modules.alias").read_text()) if (meta / "modules.alias").exists() else {}
    chosen, unknown = resolve(wanted, deps, builtin, softdeps, aliases)
    out = dest_root / "usr" / "lib" / "modules" / kver
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for rel in sorted(chosen):
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / rel, out / rel)
    for f in ("modules.builtin", "modules.builtin.modinfo", "modules.order"):
        if (src / f).exists():
            shutil.copy2(src / f, out / f)
    steps.run(["depmod", "-b", str(dest_root / "usr"), kver])
    # depmod -b usr writes usr/lib/modules: the merged /lib symlink makes it /lib/modules.
    return kver, unknown

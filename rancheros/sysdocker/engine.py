"""The service engine: make system Docker's containers match the enabled services of the config.

`up` reconciles (create missing, recreate changed, keep unchanged, remove
disabled) in dependency order; `stop_all` stops in reverse order. One failing
service is logged with its reason and never stops the others.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import docker
import psutil
import requests
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.utils import parse_repository_tag

from rancheros.console import persist
from rancheros.errors import DockerError, ServiceError
from rancheros.sysdocker import conditions
from rancheros.sysdocker.pull import follow as follow_pull
from rancheros.sysdocker.catalog import CONSOLE_SERVICE, CatalogEntry, enabled_specs, load_catalog
from rancheros.sysdocker.order import Graph, build_graph
from rancheros.sysdocker.scheduler import run_graph
from rancheros.sysdocker.service import (LABEL_BEFORE, LABEL_HASH, LABEL_SERVICE, Service, create_args,
                                         parse_services)

# Set by the engine on each container: the services it starts after (for stopping in reverse order).
LABEL_REQUIRES = "io.rancher.os.requires"

log = logging.getLogger(__name__)

# What happened to one service during `up`.
UNCHANGED, STARTED, CREATED, RECREATED = "unchanged", "started", "created", "recreated"
SKIPPED = "skipped"  # its io.rancher.os.condition is false: nothing to do, its dependants go on
# A service that reports readiness and is not ready by then: its dependants start anyway (ordering,
# never a hard requirement: a console that cannot start must not keep the user Docker down).
READY_TIMEOUT = 120.0


@dataclass
class UpReport:
    """Outcome of one `up`: service name -> action, failures with reasons, graph problems."""

    actions: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.problems


@dataclass
class ServiceState:
    """A service's container as `ros service ps` shows it."""

    name: str
    image: str
    state: str  # running, exited, created, ...
    status: str
    exit_code: int | None
    id: str


def finished_epoch(stamp: str) -> float:
    """Docker's RFC 3339 FinishedAt (nanoseconds, Z) as epoch seconds; 0 for the zero time or garbage."""
    try:
        base, _, frac = stamp.rstrip("Z").partition(".")
        dt = datetime.datetime.fromisoformat(base).replace(tzinfo=datetime.timezone.utc)
        return dt.timestamp() + (float("0." + frac) if frac.isdigit() else 0.0)
    except ValueError:
        return 0.0


def _as_docker_error(method: Callable) -> Callable:
    """Daemon and transport errors leave the engine as DockerError, which the CLI prints as one line."""
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except (DockerException, requests.RequestException) as e:
            raise DockerError(f"system Docker: {_docker_reason(e)}") from e
    return wrapper


def _docker_reason(e: BaseException) -> str:
    if isinstance(e, APIError):
        return str(e.explanation or e)
    return str(e) or type(e).__name__


class Engine:
    """Runs the services of `doc` on system Docker through `client` (a docker.DockerClient)."""

    def __init__(self, client: docker.DockerClient, doc: dict, reload: Callable[[], dict] | None = None,
                 catalog: dict[str, CatalogEntry] | None = None, workers: int = 4,
                 oneshot_timeout: float = 600, pull: bool = True, say: Callable[[str], None] | None = None,
                 ready_timeout: float = READY_TIMEOUT):
        self.client = client
        self.say = say or log.info  # pull progress: the boot log, or the operator's terminal
        self.api = client.api
        self.doc = doc
        self._reload = reload
        self.catalog = load_catalog(doc=doc) if catalog is None else catalog
        self.workers = workers
        self.oneshot_timeout = oneshot_timeout
        self.ready_timeout = ready_timeout
        self.pull = pull

    # --- what the config wants ------------------------------------------
    def definitions(self) -> tuple[dict[str, Service], dict[str, str], list[str]]:
        """(enabled services, {name: definition error}, catalog problems) of the current doc."""
        specs, problems = enabled_specs(self.doc, self.catalog)
        services, errors = parse_services(specs)
        for svc in services.values():
            svc.bind_config(self.doc)
        return services, errors, problems

    @staticmethod
    def graph_of(services: dict[str, Service]) -> Graph:
        return build_graph({n: s.requires for n, s in services.items()},
                           {n: s.before for n, s in services.items()})

    # --- up / reconcile -----------------------------------------------------
    @_as_docker_error
    def up(self, names: list[str] | None = None) -> UpReport:
        """Reconcile all enabled services (or just `names`) with their containers, in order."""
        report = UpReport()
        services, errors, problems = self.definitions()
        report.problems += problems
        for name, err in errors.items():
            report.failed[name] = err
            log.error("%s", err)
        if names:
            unknown = [n for n in names if n not in services and n not in errors]
            if unknown:
                raise ServiceError(f"no such service: {', '.join(unknown)} "
                                   f"(enabled: {', '.join(sorted(services)) or 'none'})")
        else:
            report.removed = self.remove_disabled(set(services) | set(errors))
            if not persist.enabled(self.doc):
                report.removed += persist.drop_all(self.api)
        graph = self.graph_of(services)
        report.problems += graph.problems
        for p in graph.problems:
            log.warning("%s", p)
        state = {"services": services}
        # A service with nothing to do is done before anything starts: its dependants need not wait
        # for its turn (the console does not wait for the network when cloud-init has no network work).
        skipped = {n for n, s in services.items() if (not names or n in names) and self._skipped(s)}
        for n in sorted(skipped):
            log.info("service %s: skipped (%s: no)", n, services[n].condition)
            report.actions[n] = SKIPPED

        def action(name: str) -> str:
            return self._up_one(state["services"][name])

        def on_done(name: str, result) -> Graph | None:
            if isinstance(result, BaseException):
                report.failed[name] = _docker_reason(result)
                log.error("service %s: %s", name, report.failed[name])
                return None
            report.actions[name] = result
            svc = state["services"][name]
            if svc.reloadconfig and self._reload is not None and result not in (UNCHANGED, SKIPPED):
                return self._reload_graph(state, report)
            return None

        run_graph(graph, action, scope=names, workers=self.workers, on_done=on_done, skip=skipped)
        return report

    def _skipped(self, svc: Service) -> bool:
        """The service's condition is known and false (an unknown one fails when the service's turn comes)."""
        try:
            return bool(svc.condition) and not conditions.holds(svc.condition, self.doc)
        except ServiceError:
            return False

    def _reload_graph(self, state: dict, report: UpReport) -> Graph:
        """Re-read the config after a reloadconfig service ran; later services use the new definitions."""
        try:
            doc = self._reload()
        except Exception as e:  # a broken new config must not stop the services still to start
            report.problems.append(f"config reload failed, keeping the previous config: {e}")
            log.error("%s", report.problems[-1])
            return self.graph_of(state["services"])
        self.doc = doc
        services, errors, problems = self.definitions()
        for name, err in errors.items():
            report.failed.setdefault(name, err)
        report.problems += [p for p in problems if p not in report.problems]
        state["services"] = services
        log.info("config reloaded: %d services enabled", len(services))
        graph = self.graph_of(services)
        report.problems += [p for p in graph.problems if p not in report.problems]
        return graph

    def _up_one(self, svc: Service) -> str:
        """Bring one service to its definition; returns the action taken, raises with the reason."""
        if svc.condition and not conditions.holds(svc.condition, self.doc):
            log.info("service %s: skipped (%s: no)", svc.name, svc.condition)
            return SKIPPED
        want = svc.definition_hash()
        existing = self._inspect(svc.name)
        action = CREATED
        if existing is not None:
            labels = existing["Config"].get("Labels") or {}
            if labels.get(LABEL_HASH) == want and self._image_unchanged(svc, existing):
                if svc.createonly or existing["State"]["Running"] or self._ran_this_boot(svc, existing):
                    return UNCHANGED
                self._start(svc, existing["Id"])
                return STARTED
            log.info("service %s: definition or image changed, recreating", svc.name)
            if svc.name == CONSOLE_SERVICE:
                persist.retire(self.api, existing, self.doc)
            else:
                self.api.remove_container(existing["Id"], force=True, v=False)
            action = RECREATED
        self.ensure_image(svc.image)
        if svc.name == CONSOLE_SERVICE:
            kept = persist.revive(self.api, persist.console_of(svc.labels), svc.name, want,
                                  self._image_id(svc.image), self.doc)
            if kept is not None:
                self._start(svc, kept)
                return STARTED
        args = create_args(svc, {LABEL_SERVICE: svc.name, LABEL_HASH: want,
                                LABEL_REQUIRES: ",".join(svc.requires)})
        host_config = self.api.create_host_config(**args.host)
        cid = self.api.create_container(host_config=host_config, **args.container)["Id"]
        if svc.createonly:
            log.info("service %s: created", svc.name)
            return action
        self._start(svc, cid)
        return action

    def _image_id(self, image: str) -> str | None:
        try:
            return self.api.inspect_image(image)["Id"]
        except ImageNotFound:
            return None

    def _image_unchanged(self, svc: Service, container: dict) -> bool:
        """False when the image tag now names another image (an upgrade loaded a new one)."""
        current = self._image_id(svc.image)
        return current is None or current == container["Image"]  # none: keep what runs, nothing newer

    @staticmethod
    def _ran_this_boot(svc: Service, container: dict) -> bool:
        """A one-shot that already succeeded since the machine booted is not run again (at boot it is)."""
        state = container["State"]
        if svc.detach or state["Status"] != "exited" or state["ExitCode"] != 0:
            return False
        return finished_epoch(state.get("FinishedAt", "")) > psutil.boot_time()

    def _start(self, svc: Service, cid: str) -> None:
        t0 = time.monotonic()
        if svc.ready_file:
            os.makedirs(os.path.dirname(svc.ready_file), exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(svc.ready_file)   # from its previous start: ready means ready since this one
        self.api.start(cid)
        if svc.detach:
            log.info("service %s: started", svc.name)
            if svc.ready_file:
                self._wait_ready(svc, cid)
            return
        try:
            status = self.api.wait(cid, timeout=self.oneshot_timeout)["StatusCode"]
        except Exception as e:  # requests' read timeout
            raise ServiceError(f"one-shot service {svc.name} still running after "
                               f"{self.oneshot_timeout:.0f}s: {_docker_reason(e)}") from e
        if status != 0:
            tail = self.api.logs(cid, tail=5).decode(errors="replace").strip()
            raise ServiceError(f"one-shot service {svc.name} exited with status {status}"
                               f"{': ' + tail if tail else ''}")
        log.info("service %s: ran to completion in %.2fs", svc.name, time.monotonic() - t0)

    def _wait_ready(self, svc: Service, cid: str, poll: float = 0.1) -> None:
        """Until the service creates its ready file, it exits, or READY_TIMEOUT; says so every 5 s."""
        t0, note, check = time.monotonic(), 5.0, 2.0
        while not os.path.exists(svc.ready_file):
            waited = time.monotonic() - t0
            if waited >= self.ready_timeout:
                log.warning("service %s: not ready after %.0fs; starting what waits for it", svc.name, waited)
                return
            if waited >= check:
                check += 2.0
                if not self.api.inspect_container(cid)["State"]["Running"]:
                    log.warning("service %s: exited before it was ready", svc.name)
                    return
            if waited >= note:
                note += 5.0
                log.info("service %s: not ready yet (%.0fs)", svc.name, waited)
            time.sleep(poll)
        log.info("service %s: ready in %.1fs", svc.name, time.monotonic() - t0)

    def ensure_image(self, image: str) -> None:
        """Have `image` locally: pull it from the configured registry if missing; ServiceError if that fails."""
        try:
            self.api.inspect_image(image)
            return
        except ImageNotFound:
            pass
        if not self.pull:
            raise ServiceError(f"image {image} is not present in system Docker (pulling disabled)")
        registry = ((self.doc.get("rancher") or {}).get("system_docker") or {}).get("registry") or ""
        source = f"{registry.rstrip('/')}/{image}" if registry else image
        repo, tag = parse_repository_tag(source)
        self.say(f"pulling {source}")
        try:
            follow_pull(self.api.pull(repo, tag=tag or "latest", stream=True, decode=True), source, self.say)
            if source != image:
                target_repo, target_tag = parse_repository_tag(image)
                pulled = source if tag else f"{source}:latest"
                self.api.tag(pulled, target_repo, target_tag or "latest")
                self.api.remove_image(pulled, noprune=True)  # only the name the config uses stays
        except (DockerException, ServiceError) as e:
            raise ServiceError(f"image {image} is not present and pulling {source} failed: "
                               f"{_docker_reason(e)}") from e

    def _inspect(self, name: str) -> dict | None:
        try:
            return self.api.inspect_container(name)
        except NotFound:
            return None

    def _managed(self) -> list[dict]:
        """Every service's container (summary dicts of the list API): the engine's label, and the service's
        name (a kept console, a console on trial or being replaced carries the label under another name)."""
        return [c for c in self.api.containers(all=True, filters={"label": LABEL_SERVICE})
                if f"/{c['Labels'].get(LABEL_SERVICE)}" in c.get("Names", [])]

    def hashes(self) -> dict[str, str]:
        """Each enabled service's definition hash under this config (what its container's label must say)."""
        services, _, _ = self.definitions()
        return {name: svc.definition_hash() for name, svc in services.items()}

    @_as_docker_error
    def remove(self, name: str) -> bool:
        """Remove service `name`'s container (its volumes stay); False when it has none."""
        existing = self._inspect(name)
        if existing is None or (existing["Config"].get("Labels") or {}).get(LABEL_SERVICE) != name:
            return False
        log.info("service %s: no longer enabled, removing", name)
        self.api.remove_container(existing["Id"], force=True)
        return True

    def remove_disabled(self, enabled: set[str]) -> list[str]:
        removed = []
        for c in self._managed():
            name = c["Labels"].get(LABEL_SERVICE)
            if name not in enabled:
                log.info("service %s: no longer enabled, removing", name)
                self.api.remove_container(c["Id"], force=True)
                removed.append(name)
        return sorted(removed)

    # --- stop / restart -----------------------------------------------------
    def _running_graph(self) -> tuple[Graph, dict[str, dict]]:
        """Graph of the existing managed containers from their own labels (works even after a config change)."""
        containers = {c["Labels"][LABEL_SERVICE]: c for c in self._managed()}
        requires, before = {}, {}
        for name, c in containers.items():
            labels = c["Labels"]
            deps = [d.strip() for d in labels.get(LABEL_REQUIRES, "").split(",") if d.strip()]
            requires[name] = [d for d in deps if d in containers]
            before[name] = [d.strip() for d in labels.get(LABEL_BEFORE, "").split(",")
                            if d.strip() in containers]
        return build_graph(requires, before), containers

    @_as_docker_error
    def stop(self, names: list[str] | None = None, timeout: int = 10) -> dict[str, str]:
        """Stop running services (all, or `names`) in reverse dependency order; returns name -> error."""
        graph, containers = self._running_graph()
        if names:
            unknown = [n for n in names if n not in containers]
            if unknown:
                raise ServiceError(f"no container for service: {', '.join(unknown)}")
        errors: dict[str, str] = {}

        def action(name: str) -> None:
            if containers[name]["State"] == "running":
                log.info("service %s: stopping", name)
                self.api.stop(containers[name]["Id"], timeout=timeout)

        rev = graph.reversed()
        results = run_graph(rev, action, scope=names, workers=self.workers)
        # Services in a cycle were never scheduled: they must still stop.
        for name in sorted(set(names or containers) - set(results)):
            try:
                action(name)
            except DockerException as e:
                errors[name] = _docker_reason(e)
        for name, r in results.items():
            if isinstance(r, BaseException):
                errors[name] = _docker_reason(r)
                log.error("service %s: stop failed: %s", name, errors[name])
        return errors

    def stop_all(self, timeout_each: int = 10) -> dict[str, str]:
        """Stop every service, dependants before their dependencies (shutdown)."""
        return self.stop(None, timeout=timeout_each)

    @_as_docker_error
    def restart(self, names: list[str], timeout: int = 10) -> None:
        """Restart the named services' containers in dependency order."""
        graph, containers = self._running_graph()
        unknown = [n for n in names if n not in containers]
        if unknown:
            raise ServiceError(f"no container for service: {', '.join(unknown)} (run `ros service up` first)")
        for name in [n for n in graph.order() if n in names] + [n for n in names if n in graph.blocked]:
            log.info("service %s: restarting", name)
            self.api.restart(containers[name]["Id"], timeout=timeout)

    # --- inspection -----------------------------------------------------------
    @_as_docker_error
    def ps(self) -> list[ServiceState]:
        """The engine's containers, sorted by name."""
        out = []
        for c in self._managed():
            exit_code = None
            if c["State"] == "exited":
                exit_code = self.api.inspect_container(c["Id"])["State"]["ExitCode"]
            out.append(ServiceState(c["Labels"][LABEL_SERVICE], c["Image"], c["State"], c["Status"],
                                    exit_code, c["Id"][:12]))
        return sorted(out, key=lambda s: s.name)

    @_as_docker_error
    def logs(self, name: str, follow: bool = False, tail: int | str = "all") -> Iterator[bytes]:
        """The service container's output, streamed (follow keeps it open)."""
        if self._inspect(name) is None:
            raise ServiceError(f"no container for service {name}")
        return self.api.logs(name, stream=True, follow=follow, tail=tail)

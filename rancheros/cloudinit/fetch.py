"""HTTP fetches for network datasources: timeouts and bounded retries, never a hang."""

import logging
import time
import urllib.error
import urllib.request

from rancheros.errors import RosError

log = logging.getLogger(__name__)


class DatasourceError(RosError):
    """A datasource is unreachable or answered with garbage."""


def has_default_route(route_table: str) -> bool:
    """True when /proc/net/route's text holds an IPv4 default route (destination 00000000)."""
    for line in route_table.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 2 and fields[1] == "00000000":
            return True
    return False


def wait_for_network(timeout: float = 60.0, route_file: str = "/proc/net/route") -> bool:
    """Wait (bounded) for a default route: the network service's DHCP client may still be asking."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with open(route_file) as f:
                if has_default_route(f.read()):
                    return True
        except OSError:
            return False
        if time.monotonic() >= deadline:
            log.warning("no default route after %.0fs; fetching anyway", timeout)
            return False
        time.sleep(0.5)


def fetch_url(url: str, timeout: float = 5.0, retries: int = 3, delay: float = 1.0,
              max_bytes: int | None = None) -> bytes | None:
    """GET `url`; None on 404 (nothing there), DatasourceError after `retries` failed tries
    or for a body longer than `max_bytes` (never more read into memory)."""
    last = ""
    for attempt in range(1, retries + 1):
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                body = resp.read() if max_bytes is None else resp.read(max_bytes + 1)
            if max_bytes is not None and len(body) > max_bytes:
                raise DatasourceError(f"{url}: more than {max_bytes >> 20} MiB; refused")
            return body
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            last = f"HTTP {e.code} {e.reason}"
        except (urllib.error.URLError, OSError, ValueError) as e:
            last = str(getattr(e, "reason", e))
        if attempt < retries:
            time.sleep(delay * attempt)
    raise DatasourceError(f"{url}: unreachable after {retries} tries ({last})")

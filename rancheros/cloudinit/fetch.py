"""HTTP fetches for network datasources: timeouts and bounded retries, never a hang."""

import logging
import time
import urllib.error
import urllib.request

from rancheros.errors import RosError

log = logging.getLogger(__name__)


class DatasourceError(RosError):
    """A datasource is unreachable or answered with garbage."""


def fetch_url(url: str, timeout: float = 5.0, retries: int = 3, delay: float = 1.0) -> bytes | None:
    """GET `url`; None on 404 (nothing there), DatasourceError after `retries` failed tries."""
    last = ""
    for attempt in range(1, retries + 1):
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                return resp.read()
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            last = f"HTTP {e.code} {e.reason}"
        except (urllib.error.URLError, OSError, ValueError) as e:
            last = str(getattr(e, "reason", e))
        if attempt < retries:
            time.sleep(delay * attempt)
    raise DatasourceError(f"{url}: unreachable after {retries} tries ({last})")

"""Is a setting a usable http(s) URL? Standard library only: deploy.sh checks the heartbeat secret with
it under a bare python3 before deploying, and core.config checks every URL setting with it at load."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit


def url_problem(value: str) -> str | None:
    """Why `value` is not a usable http(s) URL (scheme, a real host, a numeric port), or None.

    urllib.parse is lenient (it accepts 'https://' and 'https://exa mple.com') and, for a bracketed
    host that is not an IPv6 address ('https://[hc-ping.com]/x'), raises only when a part is read: so
    the checks are explicit, and nothing here ever quotes the value (it may be a secret).
    """
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        return "contains whitespace or control characters"
    try:
        parts = urlsplit(value)
        port = parts.port
        host = parts.hostname
    except ValueError as error:
        return f"does not parse as a URL ({'bad port' if 'port' in str(error).lower() else 'bad host'})"
    if parts.scheme not in ("http", "https"):
        return "is not an http(s) URL"
    if "@" in parts.netloc:
        # urllib sends no Authorization header for `user:pass@` (and healthchecks authenticates by the
        # path): such a URL never authenticates, and its password would be one more secret to hide.
        return "holds a user name or password (user:pass@host); give the URL without them"
    if not host:
        return "has no host"
    if port == 0:
        return "has port 0"
    if "[" in parts.netloc:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return "has a bracketed host that is not an IPv6 address"
        return None
    if not _HOSTNAME.match(host):
        return "has a host that is not a host name or IP address"
    return None


_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$")

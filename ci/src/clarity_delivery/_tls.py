"""One TLS configuration for every HTTP client the library opens.

A probe round, a journey request and a load test each open a short-lived
:class:`httpx.AsyncClient`; without a context of their own, each would build a fresh
:class:`ssl.SSLContext` and load the CA bundle into it again, which costs more CPU than the
request. The context is built once per process and shared: an ``SSLContext`` may be used by
any number of connections at once.
"""

from __future__ import annotations

import functools
import ssl

import httpx

__all__ = ["tls_context"]


@functools.cache
def tls_context() -> ssl.SSLContext:
    """httpx's default verification (certifi's CA bundle), built once per process."""
    return httpx.create_ssl_context()

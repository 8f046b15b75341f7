"""One TLS context per process for voicelab's own HTTP clients.

httpx builds a TLS context for every client it creates, loading certifi's CA bundle each time
(30-100 ms of CPU). The carrier makes a webhook client and the simulator one client per
outbound call, so a suite of calls paid that again and again, whether or not any URL was
https. The context is the one httpx builds by default, made once and shared (a client only
reads it).
"""

from __future__ import annotations

import functools
import ssl

import httpx

__all__ = ["tls_context"]


@functools.cache
def tls_context(trust_env: bool = True) -> ssl.SSLContext:
    """httpx's default TLS context, for ``httpx.Client(verify=...)``, built once.

    Args:
        trust_env: As the client's ``trust_env``: honour ``SSL_CERT_FILE``/``SSL_CERT_DIR``
            (read the first time the context is built).
    """
    return httpx.create_ssl_context(trust_env=trust_env)

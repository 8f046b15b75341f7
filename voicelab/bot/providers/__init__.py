"""Speech, language and voice providers: one bundle per call, built by name.

The bundles (``cloud``, ``offline``, ``scripted``, ``instant``), what each gives, the models
its pool loads and the calls a CPU holds are one table, :data:`voicelab._bundles.BUNDLES`.
"""

from voicelab.bot.providers._base import (
    Providers,
    build_providers,
    calls_per_cpu,
    check_providers,
    pool_models,
)

__all__ = ["Providers", "build_providers", "calls_per_cpu", "check_providers", "pool_models"]

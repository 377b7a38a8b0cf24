"""Commands of the cecli command line (registered on `cecli.cli.app` at import)."""

from __future__ import annotations

"""Shared fixtures. Tier-specific fixtures live in each tier's conftest."""

from __future__ import annotations

import os

# google-auth probes the GCE metadata server when it finds no credentials; tests never reach
# for an address outside this machine, so turn the probe off and point any straggler at a
# closed loopback port. Set before google.auth is imported (it reads NO_GCE_CHECK at import).
os.environ["NO_GCE_CHECK"] = "true"
os.environ["GCE_METADATA_HOST"] = "127.0.0.1:9"
os.environ["GCE_METADATA_IP"] = "127.0.0.1:9"

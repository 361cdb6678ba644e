"""Code both Clarity services share: settings, the fault flag, health, sample models, clients.

Kept small on purpose: only what would otherwise be written twice lives here.
"""

"""Clarity Loop Backend delivery pipeline: quality gates, images, infrastructure, rollouts."""

from clarity.main import Clarity, Environment

__all__ = ["Clarity", "Environment"]

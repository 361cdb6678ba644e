"""Analysis of a candidate revision: providers measure, a pure verdict judges, a runner loops.

::

    providers.py   MetricProvider, Measurement, Subject, Unmeasured: the seam for new evidence
    probes.py      Prober and HttpProbes: today's provider, the service's HTTP checks
    verdict.py     Window, assess() -> Verdict: passed, failed, or error (could not measure)
    runner.py      AnalysisRunner.analyse(subject, window): the one call a rollout step makes
"""

from .probes import HttpProbes, Prober, ProbeResult, RoundResult
from .providers import Measurement, MetricProvider, Phase, Subject, Unmeasured
from .runner import AnalysisRunner, report_round
from .verdict import Analysis, AnalysisMode, Round, Verdict, Window, assess

__all__ = [
    "Analysis",
    "AnalysisMode",
    "AnalysisRunner",
    "HttpProbes",
    "Measurement",
    "MetricProvider",
    "Phase",
    "ProbeResult",
    "Prober",
    "Round",
    "RoundResult",
    "Subject",
    "Unmeasured",
    "Verdict",
    "Window",
    "assess",
    "report_round",
]

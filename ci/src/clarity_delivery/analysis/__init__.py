"""Analysis of a candidate revision: providers measure, a pure verdict judges, a runner loops.

::

    providers.py     MetricProvider, Measurement, Subject, Unmeasured: the seam for new evidence
    probes.py        Prober and HttpProbes: health checks and business transactions over HTTP
    transactions.py  the business transactions: fixed requests, checked answers
    monitoring.py    MonitoringApi: Cloud Run's request metrics from Cloud Monitoring
    distribution.py  Histogram: percentiles from a Monitoring Distribution (pure)
    limits.py        judge(): one metrics window against the limits and stable (pure)
    metrics.py       RequestMetrics: the metrics provider, candidate against stable
    load.py          LoadComparison: the performance gate, a load test of candidate and stable
    verdict.py       Window, assess() -> Verdict: passed, failed, or error (could not measure)
    runner.py        AnalysisRunner.analyse(subject, window): the one call a rollout step makes
"""

from .distribution import Histogram
from .limits import Judgement, RevisionStats, judge
from .load import LoadComparison, LoadMeasurement, LoadStats, judge_load, load_evidence
from .metrics import MetricsMeasurement, RequestMetrics
from .monitoring import MonitoringApi
from .probes import HttpProbes, Prober, ProbeResult, RoundResult
from .providers import Measurement, MetricProvider, Phase, Subject, Unmeasured
from .runner import AnalysisRunner, report_round
from .verdict import Analysis, AnalysisMode, Round, Verdict, Window, assess

__all__ = [
    "Analysis",
    "AnalysisMode",
    "AnalysisRunner",
    "Histogram",
    "HttpProbes",
    "Judgement",
    "LoadComparison",
    "LoadMeasurement",
    "LoadStats",
    "Measurement",
    "MetricProvider",
    "MetricsMeasurement",
    "MonitoringApi",
    "Phase",
    "ProbeResult",
    "Prober",
    "RequestMetrics",
    "RevisionStats",
    "Round",
    "RoundResult",
    "Subject",
    "Unmeasured",
    "Verdict",
    "Window",
    "assess",
    "judge",
    "judge_load",
    "load_evidence",
    "report_round",
]

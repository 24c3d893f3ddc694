"""Auditing a table: glitches and data issues of a pandas table, with a report.

:func:`skinfluence.audit` is the entry point (it is this package's
:func:`audit`, re-exported at the top level); the package is named
``auditing`` so that ``skinfluence.audit`` is always the function. One job
per module: ``_table`` reads and cleans a table, ``_task`` holds what differs
between a classification and a regression audit (and the rule of
``task="auto"``), ``_issues`` finds the data issues that need no network,
``_run`` runs the audit, ``_report`` holds the :class:`AuditReport` and
renders it, ``_find`` is the one-line :func:`find_glitches`, ``_demo`` the
embedded demo of ``skinfluence audit``.
"""

from ._demo import audit_embedded, detection_quality, make_embedded_mixture
from ._find import find_glitches
from ._issues import ISSUE_TYPES, find_data_issues
from ._report import AuditReport
from ._run import audit, training_schedule
from ._table import (
    CleanTable,
    clean_table,
    describe_preprocessing,
    make_preprocessor,
    read_table,
)
from ._task import infer_task

__all__ = [
    "ISSUE_TYPES",
    "AuditReport",
    "CleanTable",
    "audit",
    "audit_embedded",
    "clean_table",
    "describe_preprocessing",
    "detection_quality",
    "find_data_issues",
    "find_glitches",
    "infer_task",
    "make_embedded_mixture",
    "make_preprocessor",
    "read_table",
    "training_schedule",
]

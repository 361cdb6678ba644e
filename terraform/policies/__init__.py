"""The repository's own checkov checks (CKV_CLARITY_*), one file per control.

checkov loads them with `--external-checks-dir terraform/policies` and only from a
folder that holds this file. They import checkov, which lives in its own virtualenv
(tests/terraform/test_checkov.py), never in the project's.
"""

"""Outputs of a run: map, tables, PDF and summary, in Chinese or English.

Modules depend one way: :mod:`~siting.report.i18n` and :mod:`~siting.report.common` →
:mod:`~siting.report.tables`, :mod:`~siting.report.webmap`, :mod:`~siting.report.pdf` →
:mod:`~siting.report.write` (the all-or-nothing output folder).
"""

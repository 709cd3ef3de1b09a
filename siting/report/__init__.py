"""Outputs of a run: map, tables, PDF and summary, in Chinese or English.

Modules depend one way, each on those before it only:

1. :mod:`~siting.report.i18n` (labels), :mod:`~siting.report.fonts` (the CJK font);
2. :mod:`~siting.report.common` (tiers, reach, people served per tier and per site and
   service, street lines);
3. :mod:`~siting.report.markup` (text made inert, legend and icons),
   :mod:`~siting.report.tables`, :mod:`~siting.report.curve` (the budget curve page);
4. :mod:`~siting.report.basemap`, :mod:`~siting.report.maplayers` (assignments, unserved
   demand per service, site popups), then :mod:`~siting.report.webmap`;
   :mod:`~siting.report.pdf`;
5. :mod:`~siting.report.write` (the all-or-nothing output folder).

Every function takes the :class:`~siting.pipeline.RunResult` of a run; what more than one
output draws (the walking reach of the tiers) is computed once by
:func:`~siting.report.write.write_outputs` and handed down.
"""

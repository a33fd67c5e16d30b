"""The paper's reports, read back from hf-train's MLflow store: ``hf-report`` (:mod:`hfcore_reports.cli`).

Figure 3 (:mod:`hfcore_reports.figure3`) and Table 1 (:mod:`hfcore_reports.table1`) of M&S 2011, from the runs
of the grids in ``conf/sweep/``. It sits beside the plugins, outside the core package: it reads what the core
writes and adds nothing to a run.
"""

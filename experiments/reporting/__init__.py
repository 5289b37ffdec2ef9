"""Reporting: from the runs' results to the table, the figures' numbers and the seed
spreads, as a library the pipeline's steps (experiments/scripts/) call.

* :mod:`.comparisons` — what the table compares, primary endpoint first;
* :mod:`.spread` — stored seed spreads and the rule for using one;
* :mod:`.records` — the JSON records the steps exchange, checked on load;
* :mod:`.results` — every seed's metrics of a run as one summary row;
* :mod:`.table` — the table model, built once from the results;
* :mod:`.markdown`, :mod:`.csv_table` — its renderers.
"""

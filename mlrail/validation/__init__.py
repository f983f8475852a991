"""The data checks validate and monitor share, with TFDV's semantics and formats.

- ``statistics`` (with ``accumulators``): tensorflow-metadata statistics of Arrow record batches,
  in one streaming pass;
- ``partial``: the mergeable state of a statistics pass (counts, moments for Chan's formula,
  value counts, KLL sketches), ``summary`` turns a state into the protos, and ``merge`` merges
  the statistics artifacts of shards into those of the whole;
- ``schema``: a schema inferred from statistics (types, presence, domains, comparators);
- ``anomalies``: statistics checked against a schema;
- ``drift`` and ``comparisons``: the skew and drift distances (L-infinity, Jensen-Shannon) of each
  feature between two datasets, against the schema's comparators;
- ``findings``: what the checks report.
"""

"""Data quality: Great Expectations suites on the raw feeds, their findings, and the exceptions table.

Layout (docs/quality.md tells the whole story):
- settings: expectations/config.yml and the owner-team mapping, parsed and checked;
- suites: the suite files under expectations/gx/expectations/ (generated raw suites, hand-written
  mart suites) and the meta every expectation carries;
- schema: the `quality` tables this package maintains;
- snapshot_index: which load holds which snapshot of which scope (batches, OUT_OF_ORDER_SNAPSHOT);
- batches: the rows a suite validates (a view per feed);
- gx_validation: running one suite against one batch with Great Expectations;
- validation: fingerprints, locks and persistence around it (quality.gx_validations, gx_findings);
- exceptions: quality.inventory_exceptions from every source of findings, and acknowledgements;
- recall: injected simulator faults against the exceptions (the fault kind -> exception table);
- cli: `omni-inventory exceptions list|ack`.
"""

{{ config(
    incremental_strategy='replace_scopes', snapshot_scope=[],
    indexes=[{'columns': ['legal_entity', 'period', 'gl_account'], 'unique': true}, {'columns': ['_run_seq']}],
) }}
-- General-ledger inventory balances: one snapshot of the whole feed; the newest wins.
{{ omni_stage_snapshot(
    feed_id='erp/gl_balances',
    relation=source('raw', 'erp__gl_balances'),
    columns=['legal_entity', 'period', 'gl_account', 'balance', 'currency'],
    key=['legal_entity', 'period', 'gl_account'],
    scope=[],
) }}

"""The read-only availability API (docs/contract.md section 8, docs/api.md)."""

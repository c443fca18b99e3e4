"""The process-intelligence dashboard (`omni-inventory dashboard`, docs/dashboard.md)."""

"""Outbound channel sync: the ats changes of each build published to the channels (docs/api.md)."""

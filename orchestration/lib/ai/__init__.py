"""AI-assisted operations: anomalies, the exception queue, clusters and policy suggestions (docs/ai.md)."""

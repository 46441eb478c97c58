"""Risk flags, the review queue and the rule precision table (docs/risk.md)."""

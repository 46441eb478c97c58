"""The review chain (issue 14, item 5): applications and settlement batches pass the year's
review levels in order (docs/review-chain.md)."""

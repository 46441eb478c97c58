"""The bottom layer (docs/architecture.md): no business rule — time in Asia/Shanghai,
settings, the engine and the one retry loop, the DomainError classes, ids, fen arithmetic,
set-based row writes, timestamps, shared field types, the USCC check, the message
catalogue and spreadsheet formats. Nothing here imports anything above it."""

"""The asset register: record, taxonomy, table reading, validation, dedupe, store, exports."""

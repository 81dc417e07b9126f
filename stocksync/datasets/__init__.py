"""The datasets stocksync stores: each one's rows, validation, writer and coverage."""

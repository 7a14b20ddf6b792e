"""Faust agents (thin shells) over the pure domain rules. Filled in by the stream-processor work."""

"""Market-data sources behind one contract (:class:`stocksync.sources.base.Source`)."""

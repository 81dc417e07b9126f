"""Reading the stored market: bars raw or adjusted, statistics and export."""

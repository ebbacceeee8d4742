"""Data: readers with row-level errors, splits, and the real data sets that ship inside packages."""

//! SQL implementation of the store (placeholder until the SQL layer lands).

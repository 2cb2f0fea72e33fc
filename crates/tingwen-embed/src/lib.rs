//! tingwen-embed (placeholder, filled in by its issue).

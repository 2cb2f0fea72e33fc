//! tingwen-rag (placeholder, filled in by its issue).

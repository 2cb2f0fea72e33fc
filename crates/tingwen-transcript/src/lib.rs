//! tingwen-transcript (placeholder, filled in by its issue).

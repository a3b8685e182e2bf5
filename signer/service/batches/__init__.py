"""Batches: many documents, one approval, one login, signed in order and kept on disk."""

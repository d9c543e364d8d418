"""Test support: the bad-input corpus, the demo-bag maker. Imported by tests, never by the library, node or tools."""

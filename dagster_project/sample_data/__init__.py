"""Generated sample data for the quick start and the tests."""

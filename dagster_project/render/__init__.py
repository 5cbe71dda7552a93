"""Output for people: the terminal scorecard, the HTML report, escaping of data values."""

"""Published paper tables as data, leaderboard and reproduction-report writers."""

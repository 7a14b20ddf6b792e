"""The Redis views the read API serves: learner dashboards, the key layout, the leaderboard."""

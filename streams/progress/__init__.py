"""The progress agent: activity folded into each learner-course timeline (rules, timeline),
kept in Postgres (store, pair_cache), published as progress events (events), and the due
sweep that decides deadlines once event time has passed them."""

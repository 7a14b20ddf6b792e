"""The features agent: recommendation features per learner (rules), their Postgres store and
activity cache, and the recommendations read from them."""

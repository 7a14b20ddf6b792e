"""The learner lane: progress, certification, notifications and features fused in one batch."""
